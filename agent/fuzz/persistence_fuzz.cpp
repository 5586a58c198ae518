// Fuzz target over the line parsers of the persistence checks (agent/persistence.h): cron
// tables, systemd units, /etc/ld.so.preload and authorized_keys, the same bytes read as each,
// line by line, then the host findings in the report.
//
// Oracle: nothing throws; at most one finding per line and per check, named
// "<file>:<line number>" within the file, with evidence cut to 200 bytes; ld.so.preload
// entries are non-empty and hold no separator; an authorized key is a trimmed, non-comment,
// non-empty part of its line; the outputs are sanitized (fuzz_oracle.h). And
// HostView::read_lines, over the same bytes written to a file with small bounds and chunk
// sizes taken from the input, delivers exactly the lines of the bytes before the file bound,
// each cut to the line bound, and says over_limit exactly when it cut something.
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "agent/fuzz/fuzz_oracle.h"
#include "agent/host_view.h"
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

void check_read_lines(std::string_view input) {
  const auto byte = [&](size_t i) {
    return i < input.size() ? static_cast<unsigned char>(input[i]) : 0u;
  };
  LineLimits limits;
  limits.chunk_bytes = 1 + byte(0) % 16;
  limits.max_line_bytes = 1 + byte(1) % 64;
  limits.max_file_bytes = input.size() > 2 ? byte(2) * 4u : 1024u;
  const std::string_view head = input.substr(0, limits.max_file_bytes);
  std::vector<std::string> expected;
  bool over = input.size() > head.size();
  size_t pos = 0;
  while (pos < head.size()) {
    size_t end = head.find('\n', pos);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = head.substr(pos, end - pos);
    over = over || line.size() > limits.max_line_bytes;
    expected.emplace_back(line.substr(0, limits.max_line_bytes));
    pos = end + 1;
  }

  const std::string path = "fuzz-lines-input";  // in the driver's working directory
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(input.data(), static_cast<std::streamsize>(input.size()));
  }
  std::vector<std::string> lines;
  Result<LinesRead> read =
      HostView::read_lines(path, limits, [&](std::string_view line) { lines.emplace_back(line); });
  if (!read) fail("read_lines cannot read its own file: " + read.error().describe(), input);
  if (lines != expected) fail("read_lines delivers other lines than the bytes hold", input);
  if (read->lines != lines.size() || read->bytes != head.size())
    fail("read_lines miscounts", input);
  if (read->over_limit != over) fail("read_lines over_limit is wrong", input);
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
  return agent::fuzz::run_input(data, size, [](std::string_view input) {
    check(input);
    check_read_lines(input);
  });
}
