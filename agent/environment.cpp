#include "agent/environment.h"

#include <array>

#include "agent/scoring.h"

namespace orderguard::agent {
namespace {

constexpr std::array<std::string_view, 9> kUnusualDirs = {
    "/tmp/", "/var/tmp/", "/dev/shm/", "/run/shm/",  "/proc/",
    "/dev/", "/home/",    "/root/",    "/run/user/",
};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// A component of an absolute path that starts with '.' ("/usr/lib/.x/lib.so", "/a/../tmp").
bool hidden_component(std::string_view path) { return path.find("/.") != std::string_view::npos; }

}  // namespace

std::string suspicious_loader_path(std::string_view variable, std::string_view entry) {
  if (entry.empty() || entry.front() == '$') return "";
  if (entry.front() != '/') {
    // LD_PRELOAD's bare library names are searched in the system paths.
    if (variable == "LD_PRELOAD" && entry.find('/') == std::string_view::npos) return "";
    return "a relative path";
  }
  // "/tmp" itself as a library directory, as well as anything below it.
  std::string dir(entry);
  if (dir.back() != '/') dir += '/';
  for (std::string_view d : kUnusualDirs) {
    if (starts_with(dir, d)) return std::string(d.substr(0, d.size() - 1));
  }
  if (hidden_component(entry)) return "a hidden directory";
  return "";
}

std::vector<policy::Finding> check_environment(
    const std::vector<std::string>& environ, const policy::Scoring& scoring,
    const std::function<bool(const std::string& path)>& exists) {
  std::vector<policy::Finding> out;
  for (size_t i = 0; i < environ.size(); ++i) {
    std::string_view kv = environ[i];
    std::string_view variable;
    for (std::string_view v : {"LD_PRELOAD", "LD_LIBRARY_PATH"}) {
      if (starts_with(kv, v) && kv.size() > v.size() && kv[v.size()] == '=') variable = v;
    }
    if (variable.empty()) continue;
    std::string_view value = kv.substr(variable.size() + 1);
    // ld.so(8): LD_PRELOAD splits on spaces and colons, LD_LIBRARY_PATH on colons and semicolons.
    const std::string_view seps = variable == "LD_PRELOAD" ? " :" : ":;";
    std::string why;
    std::string_view culprit;
    size_t pos = 0;
    while (pos <= value.size() && why.empty()) {
      size_t end = value.find_first_of(seps, pos);
      if (end == std::string_view::npos) end = value.size();
      std::string_view entry = value.substr(pos, end - pos);
      pos = end + 1;
      why = suspicious_loader_path(variable, entry);
      if (why.empty() && variable == "LD_PRELOAD" && exists && !entry.empty() &&
          entry.front() == '/' && !exists(std::string(entry))) {
        why = "a file that no longer exists";
      }
      if (!why.empty()) culprit = entry;
    }
    if (why.empty()) continue;
    out.push_back(make_finding(kRuleEnvPreload, "environ[" + std::to_string(i) + "]",
                               std::string(variable) + " loads from " + why,
                               std::string(variable) + "=" + std::string(culprit), scoring));
  }
  return out;
}

}  // namespace orderguard::agent
