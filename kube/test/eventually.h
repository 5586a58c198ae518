// Polls a condition with a deadline: how a test observes another thread
// without sleeping for a fixed time and hoping.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace orderguard::kube::testing {

// True as soon as `condition` holds; false if it still does not after `deadline`
// of real time (a generous bound that only a hang reaches).
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace orderguard::kube::testing
