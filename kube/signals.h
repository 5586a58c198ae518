// Graceful shutdown: block SIGTERM and SIGINT in every thread and wait for them
// on one, so the process stops its loops, releases its Lease and exits cleanly
// (the kubelet sends SIGTERM, then SIGKILL after the grace period).
#pragma once

#include <functional>

namespace orderguard::kube {

// Call first thing in main, before any thread starts, so that all threads
// inherit the blocked mask.
void block_shutdown_signals();

// Waits for SIGTERM or SIGINT on the calling thread and returns the signal.
int wait_for_shutdown_signal();

// Prepares OpenSSL for a multi-threaded process: no atexit cleanup, which races
// with threads still freeing TLS connections at exit (a crash at exit otherwise).
void init_openssl_for_process();

}  // namespace orderguard::kube
