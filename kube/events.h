// Records events.k8s.io/v1 Events about objects, asynchronously, so callers
// never block on the API server. Repeats of the same (object, reason, note)
// within ten minutes update one Event's series (count, lastObservedTime)
// instead of creating new objects, and the queue is bounded: under an event
// storm the oldest pending events are dropped, never the caller's work.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "base/clock.h"
#include "kube/client.h"

namespace orderguard::kube {

enum class EventType { kNormal, kWarning };

class EventRecorder {
 public:
  // controller: reportingController, e.g. "orderguard.io/operator";
  // instance: reportingInstance, e.g. the pod name.
  EventRecorder(Client& client, std::string controller, std::string instance, const Clock& clock,
                size_t max_pending = 1000);
  ~EventRecorder();

  // `regarding` is the object (or just its apiVersion/kind/metadata).
  // reason is CamelCase; action says what was done ("Evict", "Reconcile").
  void record(const json& regarding, EventType type, const std::string& reason,
              const std::string& action, const std::string& note);

  // Blocks until every queued event has been written (tests, shutdown).
  void flush();
  void stop();

  // The Event body for `regarding`, without I/O. Exposed for tests.
  json build_event(const json& regarding, EventType type, const std::string& reason,
                   const std::string& action, const std::string& note) const;

 private:
  struct Pending {
    json event;
    std::string series_key;
  };
  struct Series {
    std::string ns, name;
    int count = 1;
    Clock::time_point last;
  };
  void loop();
  void write(Pending p);

  Client& client_;
  std::string controller_;
  std::string instance_;
  const Clock& clock_;
  size_t max_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool busy_ = false;
  bool stopped_ = false;
  std::map<std::string, Series> series_;
  std::thread worker_;
};

}  // namespace orderguard::kube
