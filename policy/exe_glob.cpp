#include "policy/exe_glob.h"

namespace orderguard::policy {
namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> out;
  path.remove_prefix(1);  // the leading '/'
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// One component against one pattern component: `*` any run, `?` one character. Greedy, with
// only the last `*` as a backtrack point: O(|p| * |s|).
bool match_component(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace

Result<ExeGlob> ExeGlob::compile(std::string_view pattern) {
  auto invalid = [](std::string_view why) {
    return make_error(ErrorCode::kInvalid, "executable glob " + std::string(why));
  };
  if (pattern.empty() || pattern.front() != '/') return invalid("must be an absolute path");
  if (pattern.size() > kMaxExeGlobLength) {
    return invalid("must be at most " + std::to_string(kMaxExeGlobLength) + " bytes");
  }
  if (pattern.find('\0') != std::string_view::npos) return invalid("must not contain NUL");
  if (pattern.find('[') != std::string_view::npos) {
    return invalid("must not contain '[' (character classes are not supported)");
  }
  ExeGlob glob;
  glob.pattern_ = std::string(pattern);
  bool literal = false;
  for (std::string_view c : split(pattern)) {
    if (c.empty()) return invalid("must not have empty components or end with '/'");
    if (c == "." || c == "..") return invalid("must not have '.' or '..' components");
    if (c != "**" && c.find("**") != std::string_view::npos) {
      return invalid("may use '**' only as a whole component (/opt/corp/**)");
    }
    if (c.find_first_not_of("*?") != std::string_view::npos) literal = true;
    glob.components_.emplace_back(c);
  }
  if (!literal)
    return invalid(
        "must name something: a pattern of wildcards only matches every "
        "executable");
  return glob;
}

bool ExeGlob::matches(std::string_view path) const {
  if (path.empty() || path.front() != '/') return false;
  std::vector<std::string_view> s = split(path);
  const std::vector<std::string>& p = components_;
  // The component-level twin of match_component, with `**` as the star.
  size_t pi = 0, si = 0, star = std::string::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] != "**" && match_component(p[pi], s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == "**") {
      star = pi++;
      mark = si;
    } else if (star != std::string::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == "**") ++pi;
  return pi == p.size();
}

}  // namespace orderguard::policy
