#include "kube/events.h"

#include <random>

#include "base/log.h"
#include "base/text.h"
#include "base/time_format.h"
#include "kube/leader_election.h"

namespace orderguard::kube {
namespace {

constexpr auto kSeriesWindow = std::chrono::minutes(10);

std::string random_suffix() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

EventRecorder::EventRecorder(Client& client, std::string controller, std::string instance,
                             const Clock& clock, size_t max_pending)
    : client_(client),
      controller_(std::move(controller)),
      instance_(std::move(instance)),
      clock_(clock),
      max_pending_(max_pending) {
  worker_ = std::thread([this] { loop(); });
}

EventRecorder::~EventRecorder() { stop(); }

json EventRecorder::build_event(const json& regarding, EventType type, const std::string& reason,
                                const std::string& action, const std::string& note) const {
  const json& meta = regarding.value("metadata", json::object());
  const std::string obj_name = meta.value("name", "unknown");
  std::string ns = meta.value("namespace", "");
  if (ns.empty()) ns = "default";  // events about cluster-scoped objects (Nodes)
  json ref = {{"apiVersion", regarding.value("apiVersion", "v1")},
              {"kind", regarding.value("kind", "")},
              {"name", obj_name}};
  if (meta.contains("namespace")) ref["namespace"] = meta["namespace"];
  if (meta.contains("uid")) ref["uid"] = meta["uid"];
  // The API caps notes at 1 kB and wants valid UTF-8; notes carry host data (argv, file
  // contents), so they are repaired here rather than trusted, and cut on a character boundary.
  std::string capped = truncate_utf8(to_valid_utf8(note), 1024);
  return {{"apiVersion", "events.k8s.io/v1"},
          {"kind", "Event"},
          {"metadata", {{"name", obj_name + "." + random_suffix()}, {"namespace", ns}}},
          {"eventTime", format_rfc3339_micros(clock_.wall_now())},
          {"reportingController", controller_},
          {"reportingInstance", instance_.substr(0, 128)},
          {"action", truncate_utf8(to_valid_utf8(action), 128)},
          {"reason", truncate_utf8(to_valid_utf8(reason), 128)},
          {"note", capped},
          {"type", type == EventType::kWarning ? "Warning" : "Normal"},
          {"regarding", ref}};
}

void EventRecorder::record(const json& regarding, EventType type, const std::string& reason,
                           const std::string& action, const std::string& note) {
  Pending p;
  p.event = build_event(regarding, type, reason, action, note);
  const json& ref = p.event["regarding"];
  p.series_key = ref.value("uid", ref.value("namespace", "") + "/" + ref.value("name", "")) + "|" +
                 reason + "|" + note;
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return;
  if (queue_.size() >= max_pending_) {
    log::error("event queue full; dropping the oldest event", {{"reason", reason}});
    queue_.pop_front();
  }
  queue_.push_back(std::move(p));
  cv_.notify_all();
}

void EventRecorder::write(Pending p) {
  const std::string ns = p.event["metadata"]["namespace"];
  auto now = clock_.now();
  auto it = series_.find(p.series_key);
  if (it != series_.end() && now - it->second.last < kSeriesWindow) {
    Series& s = it->second;
    s.count++;
    s.last = now;
    json patch = {
        {"series",
         {{"count", s.count}, {"lastObservedTime", format_rfc3339_micros(clock_.wall_now())}}}};
    auto res = client_.patch(resources::kEvents, s.ns, s.name, PatchType::kMerge, patch);
    if (res.ok()) return;
    // The Event may have expired (the API server keeps them an hour): create anew.
  }
  auto res = client_.create(resources::kEvents, ns, p.event);
  if (!res.ok()) {
    log::error("writing event failed",
               {{"reason", p.event["reason"]}, {"error", res.error().describe()}});
    return;
  }
  series_[p.series_key] = Series{ns, p.event["metadata"]["name"], 1, now};
  // Keep the series map bounded; old series are useless after the window.
  if (series_.size() > 4096) {
    for (auto s = series_.begin(); s != series_.end();) {
      s = now - s->second.last >= kSeriesWindow ? series_.erase(s) : std::next(s);
    }
  }
}

void EventRecorder::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopped_ || !queue_.empty(); });
    if (queue_.empty() && stopped_) return;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    // The worker thread is the last stop: an exception here would end the process.
    try {
      write(std::move(p));
    } catch (const std::exception& e) {
      log::error("writing event failed", {{"error", e.what()}});
    }
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

void EventRecorder::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return (queue_.empty() && !busy_) || !worker_.joinable(); });
}

void EventRecorder::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();  // drains what is queued first
}

}  // namespace orderguard::kube
