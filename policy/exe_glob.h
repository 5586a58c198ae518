// Executable path globs, for the node agent's exclusions (--exclude-exe and a MinerPolicy's
// spec.agent.exclusions.executables): `*` and `?` within one path component (never '/'), `**`
// as a whole component for any number of components, zero included; no character classes.
// Patterns are absolute paths without empty, "." or ".." components, at most
// kMaxExeGlobLength bytes. Matching is greedy with one backtrack point per level (components
// of the path, characters of a component), so it takes time proportional to the pattern
// length times the path length, never exponential: paths are any bytes a process chose.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace orderguard::policy {

inline constexpr size_t kMaxExeGlobLength = 1024;

class ExeGlob {
 public:
  // kInvalid with a reason when the pattern is not as above.
  static Result<ExeGlob> compile(std::string_view pattern);
  bool matches(std::string_view path) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::vector<std::string> components_;
};

}  // namespace orderguard::policy
