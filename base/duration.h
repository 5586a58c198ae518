// Durations on the command line, written as Kubernetes users write them
// (Go's time.ParseDuration): "90s", "720h", "1h30m", "500ms".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"

namespace orderguard {

// A sequence of <decimal number><unit> with units ns, us, µs, ms, s, m, h; a bare
// "0" is zero. Negative values, empty input, a missing or unknown unit and values
// beyond about 292 years are kInvalid errors naming the input.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);

// `text` as an error message quotes it: "<text>", cut to 64 bytes and with control
// characters, invalid UTF-8 and bidi overrides escaped (argv may hold any bytes, and the
// message goes to a terminal and to logs).
std::string quote_duration_input(std::string_view text);

// The shortest exact Go-style spelling of `d` ("1h30m", "90s", "250ms", "0s").
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace orderguard
