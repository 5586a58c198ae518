// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules
// and controller-runtime's defaults (15 s lease, 10 s renew deadline, 2 s retry).
//
// Expiry is judged from the local time at which this process last saw the
// Lease record change, never from the renewTime written by another host, so
// clock skew between hosts cannot make two leaders. Writes are optimistic
// (resourceVersion), so two candidates cannot both win one round.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/clock.h"
#include "kube/client.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Gauge;
}  // namespace prometheus

namespace orderguard::kube {

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;  // unique per process: hostname + random suffix
  std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
  std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
  // Give the Lease up on a clean stop so the next leader need not wait it out.
  bool release_on_cancel = true;
};

struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string&)> on_new_leader;  // observed holder changed
};

class LeaderElector {
 public:
  LeaderElector(Client& client, LeaderElectionConfig config, LeaderCallbacks callbacks,
                const Clock& clock, prometheus::Registry* metrics = nullptr);
  ~LeaderElector();

  // Validates the timing rules of client-go (lease > renew deadline > 1.2 x retry).
  static Status validate(const LeaderElectionConfig& config);

  // Blocks: campaigns until it leads, then renews until stop() or until a renewal
  // has not succeeded within the renew deadline (leadership lost). Returns after
  // on_stopped_leading has run (if it ever led). Run it once per elector.
  void run();
  void stop();
  bool is_leader() const { return leader_.load(); }
  std::string identity() const { return config_.identity; }

  // One acquire-or-renew round; true when this process holds the Lease afterwards.
  // Exposed for tests.
  bool try_acquire_or_renew();

 private:
  bool wait_for(std::chrono::milliseconds d);  // false when stopped meanwhile
  void release();
  void set_leader(bool leader);

  Client& client_;
  LeaderElectionConfig config_;
  LeaderCallbacks callbacks_;
  const Clock& clock_;
  std::atomic<bool> leader_{false};
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::string observed_holder_;
  std::string observed_record_;  // holder + renewTime + resourceVersion
  Clock::time_point observed_time_{};
  prometheus::Gauge* leader_gauge_ = nullptr;
};

// Unique per process, "<hostname>_<random>": a Lease holder identity and an
// Event reportingInstance (two replicas on one host must not share it).
std::string process_identity();

}  // namespace orderguard::kube
