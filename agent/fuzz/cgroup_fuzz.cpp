// Fuzz target over /proc/<pid>/cgroup parsing (agent/cgroup.h): the file's lines, the
// container and pod a process belongs to, and the pod match the responder makes with them.
//
// Oracle: nothing throws; at most one line per newline plus one, each path absolute;
// stripping the cgroup-namespace prefix is idempotent; a container id is 64 lowercase hex
// digits, a pod UID a lowercase UUID or 32 hex digits, the runtime one of the known ones; a
// pod whose status carries the container id (or whose uid is the pod UID) is the one
// match_pod finds; the outputs are sanitized (fuzz_oracle.h).
#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agent/cgroup.h"
#include "agent/fuzz/fuzz_oracle.h"

namespace {

using namespace orderguard;
using namespace orderguard::agent;
using agent::fuzz::fail;
using nlohmann::json;

bool lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool pod_uid_shape(std::string_view s) {
  if (s.size() == 32) return lower_hex(s);
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !lower_hex(s.substr(i, 1))) return false;
  }
  return true;
}

void check(std::string_view input) {
  const std::vector<CgroupLine> lines = parse_cgroup_file(input);
  if (lines.size() > agent::fuzz::count(input, '\n') + 1) fail("more lines than the file", input);
  for (const CgroupLine& l : lines) {
    if (l.path.empty() || l.path.front() != '/') fail("a cgroup path that is not absolute", input);
    const std::string once = strip_cgroup_namespace_prefix(l.path);
    if (strip_cgroup_namespace_prefix(once) != once) fail("prefix strip is not idempotent", input);
  }
  const ContainerRef ref = container_from_cgroup(input);
  if (!ref.container_id.empty() &&
      (ref.container_id.size() != 64 || !lower_hex(ref.container_id))) {
    fail("a container id that is not 64 lowercase hex digits", input);
  }
  if (!ref.pod_uid.empty() && !pod_uid_shape(ref.pod_uid)) fail("a malformed pod UID", input);
  static constexpr std::string_view kRuntimes[] = {"", "containerd", "cri-o", "docker", "podman"};
  if (std::find(std::begin(kRuntimes), std::end(kRuntimes), ref.runtime) == std::end(kRuntimes)) {
    fail("an unknown runtime", input);
  }
  if (!ref.empty()) {
    json pod = {{"metadata", {{"name", "p"}, {"namespace", "ns"}, {"uid", ref.pod_uid}}},
                {"status",
                 {{"containerStatuses",
                   json::array({{{"name", "c"},
                                 {"image", "busybox"},
                                 {"containerID", "containerd://" + ref.container_id}}})}}}};
    std::optional<PodMatch> match = match_pod(json::array({json::object(), pod}), ref);
    if (!match || match->name != "p") fail("the pod carrying the container is not matched", input);
  }
  ScanReport report;
  ProcessReport p;
  p.pid = 1;
  p.container = ref;
  policy::Finding f;
  f.rule_id = "cgroup";
  f.field_path = ref.cgroup_path;
  f.message = ref.cgroup_path;
  p.findings = {f};
  report.processes.push_back(std::move(p));
  agent::fuzz::check_outputs(report, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return agent::fuzz::run_input(data, size, check);
}
