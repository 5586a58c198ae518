// What `--version` prints: the version, git commit and build date stamped by the build
// (cmake/version_stamp.cmake generates build_info() in the build tree). Linked only into the
// binaries (orderguard::cli), so a new commit recompiles one file and relinks the binaries.
#pragma once

#include <string>
#include <string_view>

namespace orderguard::kube {

struct BuildInfo {
  std::string_view version;     // "0.1.0"
  std::string_view git_commit;  // full SHA-1, "-dirty" appended for a modified tree, or "unknown"
  std::string_view build_date;  // RFC 3339 UTC
};

const BuildInfo& build_info();

// "<program> <version>\ngit commit: <sha>\nbuild date: <date>" (no trailing newline).
std::string version_text(std::string_view program, const BuildInfo& info = build_info());

}  // namespace orderguard::kube
