// Fuzz target over the line parsers of the persistence checks (agent/persistence.h): cron
// tables, systemd units, /etc/ld.so.preload and authorized_keys, the same bytes read as each,
// line by line, then the host findings in the report.
//
// Oracle: nothing throws; at most one finding per line and per check, named
// "<file>:<line number>" within the file, with evidence cut to 200 bytes; ld.so.preload
// entries are non-empty and hold no separator; an authorized key is a trimmed, non-comment,
// non-empty part of its line; the outputs are sanitized (fuzz_oracle.h).
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/fuzz/fuzz_oracle.h"
#include "agent/persistence.h"

namespace {

using namespace orderguard;
using namespace orderguard::agent;
using agent::fuzz::fail;

constexpr size_t kEvidenceMax = 200;  // make_finding's cut

void check_finding(const policy::Finding& f, std::string_view file, size_t number,
                   std::string_view input) {
  if (f.field_path != std::string(file) + ":" + std::to_string(number)) {
    fail("a finding that does not name its file and line", input);
  }
  if (f.evidence.size() > kEvidenceMax) fail("evidence longer than its cut", input);
}

void check(std::string_view input) {
  const policy::CompiledPolicy& pol = agent::fuzz::built_in_policy();
  ScanReport report;
  size_t number = 0;
  size_t pos = 0;
  while (pos < input.size()) {
    size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(pos, end - pos);
    pos = end + 1;
    ++number;

    size_t lib_bytes = 0;
    for (const std::string& lib : ld_preload_libraries(line)) {
      if (lib.empty() || lib.find_first_of(" \t:") != std::string::npos) {
        fail("an ld.so.preload entry that is empty or holds a separator", input);
      }
      lib_bytes += lib.size();
    }
    if (lib_bytes > line.size()) fail("ld.so.preload entries longer than their line", input);
    if (auto f = cron_line_finding("/etc/cron.d/fuzz", number, line, pol)) {
      check_finding(*f, "/etc/cron.d/fuzz", number, input);
      report.host_findings.push_back(std::move(*f));
    }
    if (auto f = systemd_line_finding("/etc/systemd/system/fuzz.service", number, line, pol)) {
      check_finding(*f, "/etc/systemd/system/fuzz.service", number, input);
      report.host_findings.push_back(std::move(*f));
    }
    if (std::optional<std::string_view> key = authorized_key(line)) {
      if (key->empty() || key->front() == '#' || key->size() > line.size() ||
          trim_line(*key) != *key || line.find(*key) == std::string_view::npos) {
        fail("an authorized key that is not a trimmed, non-comment part of its line", input);
      }
    }
  }
  if (report.host_findings.size() > 2 * number) fail("more findings than lines", input);
  agent::fuzz::check_outputs(report, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  agent::fuzz::no_throw(input, [&] { check(input); });
  return 0;
}
