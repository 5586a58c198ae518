// Fuzz target over sshd_config parsing (agent/baseline.h, the `scan --baseline` checks).
//
// Oracle: nothing throws; at most one directive per line; a keyword is non-empty, lower case
// and holds no blank; a value holds no comment and no surrounding blanks; values end up in
// finding messages, which the outputs sanitize (fuzz_oracle.h).
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/baseline.h"
#include "agent/fuzz/fuzz_oracle.h"

namespace {

using namespace orderguard;
using namespace orderguard::agent;
using agent::fuzz::fail;

bool blank(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

void check(std::string_view input) {
  const std::vector<SshdDirective> directives = parse_sshd_config(input);
  if (directives.size() > agent::fuzz::count(input, '\n') + 1)
    fail("more directives than lines", input);
  ScanReport report;
  for (const SshdDirective& d : directives) {
    if (d.keyword.empty()) fail("an empty keyword", input);
    for (char c : d.keyword) {
      if (blank(c) || c == '#') fail("a keyword with a blank or a comment", input);
      if (std::tolower(static_cast<unsigned char>(c)) != static_cast<unsigned char>(c)) {
        fail("a keyword that is not lower case", input);
      }
    }
    if (d.value.find('#') != std::string::npos) fail("a value holding a comment", input);
    if (!d.value.empty() && (blank(d.value.front()) || blank(d.value.back()))) {
      fail("a value with surrounding blanks", input);
    }
    policy::Finding f;
    f.rule_id = "baseline-ssh-root-login";
    f.field_path = "/etc/ssh/sshd_config";
    f.message = d.keyword + " is '" + d.value + "'";
    report.baseline_findings.push_back(std::move(f));
  }
  agent::fuzz::check_outputs(report, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return agent::fuzz::run_input(data, size, check);
}
