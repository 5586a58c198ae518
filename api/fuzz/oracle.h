// What the api/ fuzz targets share: a violated oracle aborts, which both the shared
// driver (fuzz/fuzz_driver_main.cpp) and libFuzzer report as a crash, input kept.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace orderguard::api::fuzz {

inline void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz oracle violated: %s\n", what);
  std::abort();
}

// A list as one comparable string.
inline std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "|";
  return out;
}

}  // namespace orderguard::api::fuzz
