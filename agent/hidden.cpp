#include "agent/hidden.h"

#include <algorithm>
#include <charconv>

#include "agent/procfs.h"
#include "agent/scoring.h"

namespace orderguard::agent {

HiddenProcessScanner::HiddenProcessScanner(const HostView* view, ProcessProbe* probe, int chunk)
    : view_(view), probe_(probe), chunk_(chunk) {}

bool HiddenProcessScanner::is_thread(int pid, const std::vector<int>& listed) {
  // /proc/<tid> resolves for threads even though readdir does not list them.
  if (Result<std::string> status = view_->read_pid(pid, "status"); status) {
    if (Result<ProcStatus> st = parse_proc_status(*status); st && st->tgid != pid) return true;
  }
  for (int leader : listed) {
    Result<std::vector<int>> tasks = view_->list_tasks(leader);
    if (tasks && std::binary_search(tasks->begin(), tasks->end(), pid) && leader != pid) {
      return true;
    }
  }
  return false;
}

HiddenSweep HiddenProcessScanner::scan(const std::vector<int>& listed_in) {
  if (Result<std::string> text = view_->read_proc("sys/kernel/pid_max"); text) {
    int v = 0;
    std::string_view s = *text;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && v > 1) pid_max_ = v;
  }
  std::vector<int> listed = listed_in;
  std::sort(listed.begin(), listed.end());
  if (next_ >= pid_max_) next_ = 1;

  HiddenSweep sweep;
  sweep.from = next_;
  int count = chunk_ <= 0 ? pid_max_ : chunk_;
  int end = std::min(pid_max_, next_ + count);
  std::vector<int> candidates;
  for (int pid = next_; pid < end; ++pid) {
    if (std::binary_search(listed.begin(), listed.end(), pid)) continue;
    if (probe_->exists(pid)) candidates.push_back(pid);
  }
  sweep.to = end;
  next_ = end;
  if (next_ >= pid_max_) {
    next_ = 1;
    sweep.wrapped = true;
  }
  if (candidates.empty()) return sweep;

  // Confirm against a fresh listing: processes started since the first one are not hidden.
  Result<std::vector<int>> relisted = view_->list_pids();
  if (relisted) {
    std::vector<int> merged = listed;
    merged.insert(merged.end(), relisted->begin(), relisted->end());
    std::sort(merged.begin(), merged.end());
    merged.erase(std::unique(merged.begin(), merged.end()), merged.end());
    listed = std::move(merged);
  }
  for (int pid : candidates) {
    if (std::binary_search(listed.begin(), listed.end(), pid)) continue;
    if (is_thread(pid, listed)) continue;
    if (!probe_->exists(pid)) continue;  // exited meanwhile
    sweep.hidden.push_back(pid);
  }
  return sweep;
}

std::vector<policy::Finding> HiddenProcessScanner::findings(const HiddenSweep& sweep,
                                                            const policy::Scoring& scoring) {
  std::vector<policy::Finding> out;
  for (int pid : sweep.hidden) {
    out.push_back(make_finding(
        kRuleHiddenProcess, "pid " + std::to_string(pid),
        "pid " + std::to_string(pid) +
            " answers signals but is missing from the /proc listing (rootkit or ld.so.preload)",
        std::to_string(pid), scoring));
  }
  return out;
}

}  // namespace orderguard::agent
