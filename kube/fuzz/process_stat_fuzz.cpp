// Fuzz target over the /proc parsers of the process_* metrics (kube/process_metrics.h): the
// same bytes as /proc/self/stat, /proc/self/limits and /proc/stat.
//
// Oracle: nothing throws or crashes, and a stat the parser accepts holds a ')' (fields are
// read after the command name, never inside it). A violation aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "kube/process_metrics.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace kube = orderguard::kube;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (kube::parse_self_stat(text).ok() && text.find(')') == std::string_view::npos) {
    std::fprintf(stderr, "fuzz oracle violated: stat accepted without a command name\n");
    std::abort();
  }
  (void)kube::parse_max_open_files(text);
  (void)kube::parse_boot_time(text);
  return 0;
}
