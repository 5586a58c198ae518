#include "kube/leader_election.h"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <random>

#include "base/log.h"
#include "base/time_format.h"

namespace orderguard::kube {
namespace {

constexpr double kJitterFactor = 1.2;

}  // namespace

std::string process_identity() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::random_device rd;
  return std::string(host) + "_" + std::to_string(rd() % 1000000);
}

LeaderElector::LeaderElector(Client& client, LeaderElectionConfig config, LeaderCallbacks callbacks,
                             const Clock& clock, prometheus::Registry* metrics)
    : client_(client), config_(std::move(config)), callbacks_(std::move(callbacks)), clock_(clock) {
  if (metrics != nullptr) {
    auto& family = prometheus::BuildGauge()
                       .Name("leader_election_master_status")
                       .Help("1 while this process holds the leader Lease")
                       .Register(*metrics);
    leader_gauge_ = &family.Add({{"name", config_.lease_name}});
  }
}

LeaderElector::~LeaderElector() { stop(); }

Status LeaderElector::validate(const LeaderElectionConfig& c) {
  if (c.lease_name.empty() || c.lease_namespace.empty() || c.identity.empty()) {
    return make_error(ErrorCode::kInvalid,
                      "leader election needs a lease namespace, name and identity");
  }
  if (c.lease_duration <= c.renew_deadline) {
    return make_error(ErrorCode::kInvalid,
                      "lease duration must be greater than the renew deadline");
  }
  if (c.renew_deadline.count() <= kJitterFactor * c.retry_period.count()) {
    return make_error(ErrorCode::kInvalid,
                      "renew deadline must be greater than 1.2 x the retry period");
  }
  return {};
}

bool LeaderElector::wait_for(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopped_.load(); });
  return !stopped_.load();
}

void LeaderElector::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

void LeaderElector::set_leader(bool leader) {
  leader_ = leader;
  if (leader_gauge_ != nullptr) leader_gauge_->Set(leader ? 1 : 0);
}

bool LeaderElector::try_acquire_or_renew() {
  const auto now_wall = format_rfc3339_micros(clock_.wall_now());
  const int lease_seconds = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());
  auto current = client_.get(resources::kLeases, config_.lease_namespace, config_.lease_name);
  if (!current.ok()) {
    if (current.error().code != ErrorCode::kNotFound) {
      log::error("reading leader lease failed",
                 {{"lease", config_.lease_name}, {"error", current.error().describe()}});
      return false;
    }
    json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
        {"spec",
         {{"holderIdentity", config_.identity},
          {"leaseDurationSeconds", lease_seconds},
          {"acquireTime", now_wall},
          {"renewTime", now_wall},
          {"leaseTransitions", 0}}}};
    auto created = client_.create(resources::kLeases, config_.lease_namespace, lease);
    if (!created.ok()) return false;  // someone else created it first: retry next round
    observed_holder_ = config_.identity;
    observed_record_ = created->dump();
    observed_time_ = clock_.now();
    return true;
  }

  json lease = std::move(current).value();
  const json spec = lease.value("spec", json::object());
  const std::string holder = spec.value("holderIdentity", "");
  const std::string record = holder + "|" + spec.value("renewTime", "") + "|" +
                             lease["metadata"].value("resourceVersion", "");
  if (record != observed_record_) {
    observed_record_ = record;
    observed_time_ = clock_.now();
    if (holder != observed_holder_) {
      observed_holder_ = holder;
      if (callbacks_.on_new_leader && !holder.empty()) callbacks_.on_new_leader(holder);
    }
  }
  const auto their_duration =
      std::chrono::seconds(spec.value("leaseDurationSeconds", lease_seconds));
  const bool held_by_other = !holder.empty() && holder != config_.identity;
  if (held_by_other && observed_time_ + their_duration > clock_.now()) {
    return false;  // a live leader holds it
  }

  json& s = lease["spec"];
  if (holder != config_.identity) {
    s["acquireTime"] = now_wall;
    s["leaseTransitions"] = spec.value("leaseTransitions", 0) + (holder.empty() ? 0 : 1);
  }
  s["holderIdentity"] = config_.identity;
  s["leaseDurationSeconds"] = lease_seconds;
  s["renewTime"] = now_wall;
  auto updated = client_.update(resources::kLeases, config_.lease_namespace, lease);
  if (!updated.ok()) {
    if (updated.error().code != ErrorCode::kConflict) {
      log::error("writing leader lease failed",
                 {{"lease", config_.lease_name}, {"error", updated.error().describe()}});
    }
    return false;
  }
  const json& us = (*updated)["spec"];
  observed_holder_ = config_.identity;
  observed_record_ = config_.identity + "|" + us.value("renewTime", "") + "|" +
                     (*updated)["metadata"].value("resourceVersion", "");
  observed_time_ = clock_.now();
  return true;
}

void LeaderElector::release() {
  auto current = client_.get(resources::kLeases, config_.lease_namespace, config_.lease_name);
  if (!current.ok()) return;
  json lease = std::move(current).value();
  if (lease["spec"].value("holderIdentity", "") != config_.identity) return;
  // client-go's release: empty holder and a 1 s duration so others take over at once.
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = format_rfc3339_micros(clock_.wall_now());
  auto res = client_.update(resources::kLeases, config_.lease_namespace, lease);
  if (!res.ok()) {
    log::error("releasing leader lease failed", {{"error", res.error().describe()}});
  } else {
    log::info("released leader lease", {{"lease", config_.lease_name}});
  }
}

void LeaderElector::run() {
  std::mt19937_64 rng(std::random_device{}());
  auto jittered = [&](std::chrono::milliseconds base) {
    std::uniform_real_distribution<double> dist(0.0, kJitterFactor);
    return base + std::chrono::milliseconds(static_cast<int64_t>(base.count() * dist(rng)));
  };

  log::info("campaigning for leader lease",
            {{"lease", config_.lease_namespace + "/" + config_.lease_name},
             {"identity", config_.identity}});
  while (!stopped_.load()) {
    if (try_acquire_or_renew()) break;
    if (!wait_for(jittered(config_.retry_period))) return;
  }
  if (stopped_.load()) return;

  set_leader(true);
  log::info("became leader", {{"lease", config_.lease_name}, {"identity", config_.identity}});
  if (callbacks_.on_started_leading) callbacks_.on_started_leading();

  auto last_renew = clock_.now();
  while (wait_for(config_.retry_period)) {
    if (try_acquire_or_renew()) {
      last_renew = clock_.now();
      continue;
    }
    if (clock_.now() - last_renew >= config_.renew_deadline) {
      log::error("leader lease lost: not renewed within the renew deadline",
                 {{"lease", config_.lease_name}});
      break;
    }
  }
  const bool clean_stop = stopped_.load();
  if (clean_stop && config_.release_on_cancel) release();
  set_leader(false);
  if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
}

}  // namespace orderguard::kube
