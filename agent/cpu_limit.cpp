#include "agent/cpu_limit.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <deque>

#include "agent/cgroup.h"
#include "agent/scoring.h"

namespace orderguard::agent {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

template <typename T>
bool to_num(std::string_view s, T* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::optional<double> ratio(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  return static_cast<double>(quota) / static_cast<double>(period);
}

// The components of a cgroup path below its hierarchy's root; nullopt for a path no kernel
// prints ("." or ".." inside it, a NUL), so a hostile file cannot point the reader elsewhere.
std::optional<std::vector<std::string>> cgroup_components(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view c = path.substr(pos, end - pos);
    if (c == "." || c == ".." || c.find('\0') != std::string_view::npos) return std::nullopt;
    if (!c.empty()) out.emplace_back(c);
    pos = end + 1;
  }
  return out;
}

std::string join(const std::string& dir, const std::vector<std::string>& parts, size_t n) {
  std::string out = dir;
  for (size_t i = 0; i < n; ++i) out += "/" + parts[i];
  return out;
}

bool is_dir(const std::string& path) {
  Result<FileStat> st = HostView::stat_path(path, true);
  return st.ok() && st->is_dir;
}

// The directory of `path` inside the hierarchy mounted at `mount` (see the header for paths
// seen from inside a cgroup namespace), as the list of components below `mount`.
std::optional<std::vector<std::string>> locate(const std::string& mount, std::string_view raw,
                                               CgroupLocator* locator) {
  const bool namespaced = raw.substr(0, 4) == "/../" || raw == "/..";
  std::optional<std::vector<std::string>> parts =
      cgroup_components(strip_cgroup_namespace_prefix(raw));
  if (!parts) return std::nullopt;
  const std::string rel = join("", *parts, parts->size());
  if (!namespaced || is_dir(mount + rel)) return parts;
  if (parts->empty()) return std::nullopt;
  const std::string key = mount + "\n" + std::string(raw);
  if (locator != nullptr) {
    const std::vector<std::string>* known = locator->find(key);
    if (known != nullptr && is_dir(join(mount, *known, known->size()))) return *known;
  }
  // Breadth-first for the unique directory holding `rel`.
  std::optional<std::vector<std::string>> found;
  std::deque<std::vector<std::string>> queue;
  queue.emplace_back();  // the root
  size_t visited = 0;
  while (!queue.empty() && visited < kMaxCgroupSearchDirs) {
    std::vector<std::string> dir = std::move(queue.front());
    queue.pop_front();
    ++visited;
    const std::string path = join(mount, dir, dir.size());
    if (!dir.empty() && is_dir(path + rel)) {
      if (found) return std::nullopt;  // ambiguous
      found = dir;
      found->insert(found->end(), parts->begin(), parts->end());
      continue;
    }
    Result<std::vector<std::string>> entries = HostView::list_dir(path);
    if (!entries) continue;
    for (const std::string& e : *entries) {
      Result<FileStat> st = HostView::stat_path(path + "/" + e);
      if (!st.ok() || !st->is_dir) continue;
      std::vector<std::string> child = dir;
      child.push_back(e);
      queue.push_back(std::move(child));
    }
  }
  if (found && locator != nullptr) locator->remember(key, *found);
  return found;
}

// The smallest quota over `parts` (a cgroup) and its ancestors in the hierarchy at `mount`.
template <typename ReadQuota>
std::optional<CpuLimit> smallest_quota(const std::string& mount,
                                       const std::vector<std::string>& parts, ReadQuota&& read) {
  std::optional<CpuLimit> best;
  for (size_t n = parts.size() + 1; n-- > 0;) {
    const std::string dir = join(mount, parts, n);
    if (std::optional<double> cpus = read(dir); cpus && (!best || *cpus < best->cpus)) {
      best = CpuLimit{*cpus, join("", parts, n)};
      if (best->cgroup.empty()) best->cgroup = "/";
    }
  }
  return best;
}

std::string percent_text(double p) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f%%", p);
  return buf;
}

}  // namespace

std::optional<double> parse_cpu_max(std::string_view text) {
  text = trim(text);
  size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  int64_t quota = 0;
  int64_t period = 0;
  if (!to_num(text.substr(0, space), &quota) || !to_num(text.substr(space + 1), &period)) {
    return std::nullopt;  // "max 100000" lands here too: no quota
  }
  return ratio(quota, period);
}

std::optional<double> parse_cfs_quota(std::string_view quota_text, std::string_view period_text) {
  int64_t quota = 0;
  int64_t period = 0;
  if (!to_num(trim(quota_text), &quota) || !to_num(trim(period_text), &period)) {
    return std::nullopt;
  }
  return ratio(quota, period);
}

const std::vector<std::string>* CgroupLocator::find(const std::string& key) const {
  auto it = found_.find(key);
  return it == found_.end() ? nullptr : &it->second;
}

void CgroupLocator::remember(std::string key, std::vector<std::string> parts) {
  if (found_.size() >= kMaxRemembered) found_.clear();
  found_[std::move(key)] = std::move(parts);
}

std::optional<CpuLimit> read_cpu_limit(const HostView& view, std::string_view cgroup_text,
                                       CgroupLocator* locator) {
  const std::vector<CgroupLine> lines = parse_cgroup_file(cgroup_text);
  const std::string base = view.host_path("/sys/fs/cgroup");
  // v1: the hierarchy the cpu controller is bound to wins; its quota is the one enforced.
  for (const CgroupLine& l : lines) {
    if (l.hierarchy == 0) continue;
    // The controller list names the mount directory: one path component.
    std::optional<std::vector<std::string>> controllers = cgroup_components(l.controllers);
    bool cpu = false;
    for (size_t pos = 0; pos <= l.controllers.size();) {
      size_t end = l.controllers.find(',', pos);
      if (end == std::string::npos) end = l.controllers.size();
      cpu = cpu || l.controllers.substr(pos, end - pos) == "cpu";
      pos = end + 1;
    }
    if (!cpu || !controllers || controllers->size() != 1) continue;
    // systemd mounts it at "cpu,cpuacct" with "cpu" a symlink; some hosts mount "cpu" alone.
    for (const std::string& dir : {l.controllers, std::string("cpu"), std::string("cpu,cpuacct")}) {
      const std::string mount = base + "/" + dir;
      if (!is_dir(mount)) continue;
      std::optional<std::vector<std::string>> parts = locate(mount, l.path, locator);
      if (!parts) return std::nullopt;
      return smallest_quota(mount, *parts, [](const std::string& d) -> std::optional<double> {
        Result<std::string> quota = HostView::read_file(d + "/cpu.cfs_quota_us", 64);
        if (!quota) return std::nullopt;
        Result<std::string> period = HostView::read_file(d + "/cpu.cfs_period_us", 64);
        if (!period) return std::nullopt;
        return parse_cfs_quota(*quota, *period);
      });
    }
    return std::nullopt;
  }
  // v2: the unified hierarchy at /sys/fs/cgroup (on a hybrid host the cpu controller is on v1,
  // and /sys/fs/cgroup holds no cpu.max).
  for (const CgroupLine& l : lines) {
    if (l.hierarchy != 0 || !l.controllers.empty()) continue;
    std::optional<std::vector<std::string>> parts = locate(base, l.path, locator);
    if (!parts) return std::nullopt;
    return smallest_quota(base, *parts, [](const std::string& d) -> std::optional<double> {
      Result<std::string> max = HostView::read_file(d + "/cpu.max", 64);
      if (!max) return std::nullopt;
      return parse_cpu_max(*max);
    });
  }
  return std::nullopt;
}

double HostLoad::fair_share_percent() const {
  return 100.0 * std::max(1, cpus) / static_cast<double>(std::max<size_t>(1, competing));
}

HostLoad host_load(const CpuShares& shares) {
  HostLoad load;
  load.cpus = std::max(1, shares.cpus);
  load.busy_percent = shares.busy_percent;
  for (const auto& [pid, u] : shares.processes) {
    if (u.percent >= kCompetingPercent) ++load.competing;
  }
  return load;
}

std::string format_cpus(double cpus) {
  const long milli = std::lround(cpus * 1000);
  if (milli % 1000 == 0) {
    const long n = milli / 1000;
    return std::to_string(n) + (n == 1 ? " CPU" : " CPUs");
  }
  return std::to_string(milli) + "m";
}

HogDecision decide_cpu_hog(double percent, const std::optional<CpuLimit>& limit,
                           const HostLoad& load, double hog_percent) {
  HogDecision d;
  if (!(percent >= kHogFloorPercent)) return d;  // NaN is not a hog either
  const bool by_cpu = percent >= hog_percent;
  const bool limited = limit && limit->cpus > 0;
  const double of_limit = limited ? percent / limit->cpus : 0;
  const bool by_limit = limited && of_limit >= hog_percent;
  const double fair = load.fair_share_percent();
  const double of_share = 100.0 * percent / fair;
  const bool by_share = load.busy() && of_share >= hog_percent;
  d.hog = by_cpu || by_limit || by_share;
  if (!d.hog) return d;
  d.message = "uses " + percent_text(percent) + " of a CPU";
  if (limited) {
    d.message += ", " + percent_text(of_limit) + " of its " + format_cpus(limit->cpus) + " limit";
  }
  if (by_share && !by_cpu && !by_limit) {
    char buf[160];
    std::snprintf(buf, sizeof(buf),
                  ", %s of its fair share on a busy host (%d CPUs %.0f%% busy, %zu processes "
                  "competing)",
                  percent_text(of_share).c_str(), load.cpus, load.busy_percent, load.competing);
    d.message += buf;
  }
  return d;
}

std::optional<policy::Finding> cpu_hog_finding(const HostView& view,
                                               const std::function<std::string()>& cgroup_text,
                                               double percent, const HostLoad& load,
                                               double hog_percent, const policy::Scoring& scoring,
                                               CgroupLocator* locator) {
  if (!(percent >= kHogFloorPercent)) return std::nullopt;
  std::optional<CpuLimit> limit = read_cpu_limit(view, cgroup_text(), locator);
  HogDecision d = decide_cpu_hog(percent, limit, load, hog_percent);
  if (!d.hog) return std::nullopt;
  std::string evidence = percent_text(percent);
  if (limit) evidence += " of " + format_cpus(limit->cpus) + " (" + limit->cgroup + ")";
  return make_finding(kRuleCpuHog, "cpu", std::move(d.message), std::move(evidence), scoring);
}

}  // namespace orderguard::agent
