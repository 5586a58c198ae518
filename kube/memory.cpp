#include "kube/memory.h"

#include <dlfcn.h>
#include <malloc.h>

#include <cstddef>

namespace orderguard::kube {
namespace {

template <typename Fn>
Fn find_function(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

void release_free_memory() {
  using MiCollect = void (*)(bool force);
  using Mallctl = int (*)(const char* name, void* old, size_t* old_len, void* value, size_t len);
  static const auto mi_collect = find_function<MiCollect>("mi_collect");
  static const auto mallctl = find_function<Mallctl>("mallctl");
  if (mi_collect != nullptr) {
    mi_collect(true);
  } else if (mallctl != nullptr) {
    // 4096 is MALLCTL_ARENAS_ALL.
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
  } else {
    malloc_trim(0);
  }
}

}  // namespace orderguard::kube
