// The I/O threads behind every Client (cpprestsdk's shared thread pool).
#pragma once

#include <cstddef>

namespace orderguard::kube {

// Sizes the pool that runs the HTTP I/O of every Client (cpprestsdk starts 40
// threads by default). Clients only run completions there: each call waits on
// its caller's thread, so a few threads serve many concurrent requests and
// watches. Takes effect only before the first request of the process.
void set_io_threads(size_t threads);

}  // namespace orderguard::kube
