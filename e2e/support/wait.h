// Waiting for a condition in tests without sleeping on luck: poll it until it
// holds or a deadline passes. The deadline only bounds a failure; a passing
// test takes as long as the system needs. The one wait loop of every test,
// unit and e2e alike (header-only: unit tests include it without linking the
// e2e support library).
#pragma once

#include <chrono>
#include <thread>

namespace orderguard::e2e {

// Calls `condition` until it returns true (then true) or `timeout` has
// passed (then false, after one last try).
template <typename Condition>
bool poll_until(Condition&& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(200)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(interval);
  }
}

// poll_until for a test observing another thread of its own process: polled
// every millisecond (the state changes in microseconds, not in API-server
// round trips), with a generous default bound that only a hang reaches.
template <typename Condition>
bool eventually(Condition&& condition, std::chrono::milliseconds timeout = std::chrono::seconds(20),
                std::chrono::milliseconds interval = std::chrono::milliseconds(1)) {
  return poll_until(condition, timeout, interval);
}

}  // namespace orderguard::e2e
