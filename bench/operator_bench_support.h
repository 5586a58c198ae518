// What the operator benchmarks (operator_bench, operator_outage_bench) share: the
// OrderService they create, when one counts as converged, and how they read the
// operator's /metrics and CPU from outside its process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "e2e/cluster.h"
#include "kube/client.h"

namespace orderguard::bench {

using Steady = std::chrono::steady_clock;

inline const kube::Resource kOrderServices{"tiers.orderguard.io", "v1alpha1", "orderservices", true,
                                           "OrderService"};

double seconds_since(Steady::time_point t);

// A TCP port on 127.0.0.1 that was free a moment ago (-1 if none could be bound).
int free_port();

// GET http://127.0.0.1:<port><path> with HTTP/1.0; the body, or "" on failure.
std::string http_get(int port, const std::string& path);

// Sums the samples of `metric` in a Prometheus text exposition whose label set contains
// every `labels` entry (with `exclude`: contains not all of them).
double metric_sum(const std::string& text, const std::string& metric,
                  const std::vector<std::string>& labels, bool exclude = false);

// utime + stime of `pid` in seconds (-1 if it cannot be read).
double proc_cpu_seconds(pid_t pid);

// OrderService "svc-<i>" in `ns`, 6 replicas over the three `zones` (34/33/33). No kubelet
// runs in the benchmarks: a Deployment never becomes available, and a one-day failover grace
// period keeps that from turning into failovers.
nlohmann::json order_service(const std::string& ns, const std::vector<std::string>& zones, int i);

// Starts the control plane of `options` with the repository's CRDs applied and established;
// nullptr (after printing why) if it cannot.
std::unique_ptr<e2e::ControlPlane> start_control_plane(const e2e::ControlPlaneOptions& options);

// Creates a Node "node-<zone>" per zone, labelled with its zone and marked Ready (no kubelet
// runs: the operator only needs the zones to look healthy). False if any write fails.
bool create_ready_zone_nodes(kube::Client& client, const std::vector<std::string>& zones);

// status.observedGeneration is the object's generation and Ready and Progressing are set.
bool converged(const nlohmann::json& o);

}  // namespace orderguard::bench
