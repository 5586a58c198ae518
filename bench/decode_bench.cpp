// Decode throughput of what the informers read: a 1,000-pod LIST response, and
// the same pods as a watch stream (newline-delimited events) through the
// LineSplitter + decode path. Prints MB/s (Google Benchmark's bytes_per_second).
// `--write-sample=<file>` also writes the LIST body so scripts/bench.sh can time
// a reference parser (Python's C json module) on the very same bytes.
#include <benchmark/benchmark.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "kube/watch_decode.h"

namespace {

using nlohmann::json;

// A Pod shaped like one from a real cluster: labels, owner reference, two
// containers with env, probes and resources, and a filled-in status.
json make_pod(int i) {
  const std::string name = "orders-api-7d9f8c6b5-" + std::to_string(100000 + i);
  json container = {
      {"name", "app"},
      {"image", "registry.example.com/orders/api@sha256:" + std::string(64, 'a')},
      {"args", {"--port=8080", "--zone=zone-a", "--cache=redis-0.redis:6379"}},
      {"env", json::array()},
      {"resources",
       {{"requests", {{"cpu", "500m"}, {"memory", "512Mi"}}},
        {"limits", {{"cpu", "2"}, {"memory", "1Gi"}}}}},
      {"readinessProbe", {{"httpGet", {{"path", "/ready"}, {"port", 8080}}}, {"periodSeconds", 5}}},
      {"volumeMounts", {{{"name", "config"}, {"mountPath", "/etc/orders"}}}}};
  for (int e = 0; e < 8; ++e) {
    container["env"].push_back({{"name", "ORDERS_SETTING_" + std::to_string(e)},
                                {"value", "value-" + std::to_string(e * i)}});
  }
  json sidecar = container;
  sidecar["name"] = "proxy";
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"namespace", "orders"},
        {"uid", "5f1c3a2e-0000-4000-8000-" + std::to_string(100000000000 + i)},
        {"resourceVersion", std::to_string(1000 + i)},
        {"creationTimestamp", "2026-11-29T03:00:00Z"},
        {"labels", {{"app", "orders-api"}, {"zone", "zone-a"}, {"pod-template-hash", "7d9f8c6b5"}}},
        {"ownerReferences",
         {{{"apiVersion", "apps/v1"},
           {"kind", "ReplicaSet"},
           {"name", "orders-api-7d9f8c6b5"},
           {"uid", "0a0b0c0d-1111-4222-8333-444455556666"},
           {"controller", true}}}}}},
      {"spec",
       {{"containers", {container, sidecar}},
        {"nodeName", "node-" + std::to_string(i % 50)},
        {"serviceAccountName", "orders"},
        {"volumes", {{{"name", "config"}, {"configMap", {{"name", "orders-config"}}}}}}}},
      {"status",
       {{"phase", "Running"},
        {"podIP", "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250)},
        {"conditions",
         {{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", "2026-11-29T03:01:00Z"}}}},
        {"containerStatuses",
         {{{"name", "app"},
           {"ready", true},
           {"restartCount", 0},
           {"containerID", "containerd://" + std::string(64, 'b')},
           {"imageID", "registry.example.com/orders/api@sha256:" + std::string(64, 'a')}}}}}}};
}

const std::string& list_body() {
  static const std::string body = [] {
    json list = {{"apiVersion", "v1"},
                 {"kind", "PodList"},
                 {"metadata", {{"resourceVersion", "123456"}}},
                 {"items", json::array()}};
    for (int i = 0; i < 1000; ++i) list["items"].push_back(make_pod(i));
    return list.dump();
  }();
  return body;
}

const std::string& watch_stream() {
  static const std::string stream = [] {
    std::string out;
    for (int i = 0; i < 1000; ++i) {
      out += json{{"type", "MODIFIED"}, {"object", make_pod(i)}}.dump();
      out += '\n';
    }
    return out;
  }();
  return stream;
}

void BM_DecodeList1000Pods(benchmark::State& state) {
  const std::string& body = list_body();
  for (auto _ : state) {
    json doc = json::parse(body);
    benchmark::DoNotOptimize(doc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.counters["body_MB"] = static_cast<double>(body.size()) / 1e6;
}
BENCHMARK(BM_DecodeList1000Pods)->Unit(benchmark::kMillisecond);

// The watch path: 16 KiB chunks as they come off the socket, split into lines,
// each decoded into a WatchEvent.
void BM_DecodeWatchStream1000Pods(benchmark::State& state) {
  const std::string& stream = watch_stream();
  for (auto _ : state) {
    orderguard::kube::LineSplitter splitter;
    size_t events = 0;
    for (size_t off = 0; off < stream.size(); off += 16384) {
      splitter.feed(std::string_view(stream).substr(off, 16384));
      while (auto line = splitter.next_line()) {
        auto ev = orderguard::kube::decode_watch_event(*line);
        events += ev.ok();
      }
    }
    if (events != 1000) state.SkipWithError("lost events");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(BM_DecodeWatchStream1000Pods)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    constexpr const char* kFlag = "--write-sample=";
    if (std::strncmp(argv[i], kFlag, std::strlen(kFlag)) == 0) {
      std::ofstream(argv[i] + std::strlen(kFlag)) << list_body();
      return 0;
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
