// Oracles shared by the agent's fuzz targets. A violation aborts, which both the shared driver
// (fuzz/fuzz_driver_main.cpp) and libFuzzer report as a crash, with the input kept.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <string_view>

#include "agent/report.h"
#include "agent/scanner.h"
#include "base/text.h"
#include "policy/miner_policy.h"

namespace orderguard::agent::fuzz {

[[noreturn]] inline void fail(std::string_view what, std::string_view input) {
  std::fprintf(stderr, "fuzz oracle violated: %.*s\ninput (%zu bytes): %s\n",
               static_cast<int>(what.size()), what.data(), input.size(),
               escape_untrusted(input.substr(0, 2000)).c_str());
  std::abort();
}

// Runs `body`; an exception escaping a parser or a check is a failure: the agent meets these
// bytes on a host and must not die of them.
template <typename Fn>
void no_throw(std::string_view input, Fn&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    fail(std::string("exception escaped: ") + e.what(), input);
  }
}

// The whole libFuzzer entry point of a target: `check` runs on the input under no_throw.
template <typename Check>
int run_input(const uint8_t* data, size_t size, Check&& check) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  no_throw(input, [&] { check(input); });
  return 0;
}

// The built-in MinerPolicy, compiled once.
inline const policy::CompiledPolicy& built_in_policy() {
  static const policy::CompiledPolicy* const kPolicy =
      new policy::CompiledPolicy(policy::built_in_default());
  return *kPolicy;
}

// Host text that reaches output is sanitized: the JSON report dumps with nlohmann's strict
// default (every string valid UTF-8), and the table is valid UTF-8 without terminal controls
// (C0 but the newline, DEL, C1) and with exactly one RESULT line.
inline void check_outputs(const ScanReport& report, std::string_view input) {
  try {
    (void)to_json(report).dump();
  } catch (const std::exception& e) {
    fail(std::string("the JSON report does not dump: ") + e.what(), input);
  }
  const std::string table = format_table(report);
  if (!is_valid_utf8(table)) fail("the table is not valid UTF-8", input);
  for (size_t i = 0; i < table.size(); ++i) {
    const auto b = static_cast<unsigned char>(table[i]);
    const bool c1 =
        b == 0xC2 && i + 1 < table.size() && static_cast<unsigned char>(table[i + 1]) <= 0x9F;
    if ((b < 0x20 && b != '\n') || b == 0x7F || c1) fail("a terminal control in the table", input);
  }
  std::istringstream lines(table);
  std::string line;
  int results = 0;
  while (std::getline(lines, line)) results += line.rfind("RESULT:", 0) == 0 ? 1 : 0;
  if (results != 1) fail("the table has a RESULT line that is not its own", input);
}

inline size_t count(std::string_view input, char c) {
  size_t n = 0;
  for (char x : input) n += x == c ? 1 : 0;
  return n;
}

}  // namespace orderguard::agent::fuzz
