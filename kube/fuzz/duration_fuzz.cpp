// Fuzz target over the Go-style duration parser (base/duration.h) and the flag checks on top
// of it (kube/cli.h's parse_duration_flag): every duration flag of every binary goes through
// them.
//
// Oracle: nothing throws or crashes; a parsed value is never negative; what format_duration
// writes for it parses back to the same value; a refusal is kInvalid and quotes the input (cut
// and escaped: the message stays short, valid text whatever the bytes); the
// flag limits hold for what they accept. A violation aborts, which both drivers report.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "base/text.h"
#include "kube/cli.h"

namespace {

namespace kube = orderguard::kube;
using namespace std::chrono_literals;

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz oracle violated: %s\n%.*s\n", what,
               static_cast<int>(detail.size() > 2000 ? 2000 : detail.size()), detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = orderguard::parse_duration(text);
  if (parsed) {
    if (parsed->count() < 0) fail("negative duration", text);
    const std::string formatted = orderguard::format_duration(*parsed);
    auto again = orderguard::parse_duration(formatted);
    if (!again || *again != *parsed) fail("format does not parse back", formatted);
  } else {
    if (parsed.error().code != orderguard::ErrorCode::kInvalid) fail("not kInvalid", text);
    if (parsed.error().message.find(orderguard::quote_duration_input(text)) == std::string::npos) {
      fail("message does not quote the input", parsed.error().message);
    }
    if (parsed.error().message.size() > 512 || !orderguard::is_valid_utf8(parsed.error().message)) {
      fail("message is not short, valid text", parsed.error().message);
    }
  }
  const kube::DurationLimits limits{.min = 1s, .max = 1h, .zero_ok = true};
  auto flag = kube::parse_duration_flag(text, limits);
  if (flag.ok() != (parsed.ok() && (*parsed == 0s || (*parsed >= 1s && *parsed <= 1h)))) {
    fail("flag limits disagree with the parser", text);
  }
  return 0;
}
