// RFC 3339 timestamps in UTC, as the Kubernetes API writes them: Time ("...:05Z"), MicroTime
// (".000000Z", Leases) and the log lines' milliseconds. One formatter and one parser for the
// whole code base.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace orderguard {

using WallTime = std::chrono::system_clock::time_point;

// "2026-12-04T18:00:05Z" (whole seconds, truncated).
std::string format_rfc3339(WallTime t);
// "2026-12-04T18:00:05.123Z".
std::string format_rfc3339_millis(WallTime t);
// "2026-12-04T18:00:05.123456Z": metav1.MicroTime.
std::string format_rfc3339_micros(WallTime t);

// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), 'T' and 'Z' in either case; the fraction is
// dropped. nullopt for anything else (31 February included). Instants beyond what
// system_clock holds (before 1678, after 2261) are clamped to WallTime::min() / max(): as good
// as "forever ago" and "never" for an expiry.
std::optional<WallTime> parse_rfc3339(std::string_view text);

}  // namespace orderguard
