// Cost of one admission request on the webhook's hot path, on the very
// AdmissionReview that scripts/bench_webhook.sh sends (a 3-container Deployment,
// bench/testdata/deployment3_review.json):
//   review          body in, AdmissionReview out (parse, decide, encode)
//   handle          Webhook::handle: review plus metrics and logging
//   audit_object    webhook::audit_object on the request's object as a DOM (the audit's
//                   entry for each listed object: it serializes and indexes the DOM once)
//   policy          policy::evaluate alone (the AdmissionInput is built once, reading the
//                   object from the request's index as review does)
//   parse_jsondoc   JsonDoc::parse of the body (what review uses)
//   parse_nlohmann  nlohmann::json::parse of the body, for comparison
//   compile_policy  policy::compile of a MinerPolicy with every field
//                   (bench/testdata/minerpolicy_full.json, already indexed): what the
//                   webhook pays per policy generation and per MinerPolicy admission
//   review_denied   review of a Deployment with a miner container (denial path)
//   review_configmap_1mib, review_configmap_1mib_miner, review_secret_1mib,
//   review_secret_1mib_miner
//                   review of a ConfigMap / Secret of 1 MiB of application settings
//                   (bench/testdata/configmap_redis_review.json with its data replaced),
//                   and the same with xmrig's config.json as one more key (denied)
//
// Under callgrind the figures are instruction counts rather than times (the
// shared machine makes wall-clock noisy). With --iterations=N each benchmark runs
// exactly N iterations after one warm-up call, and only the loop is collected
// when run as
//   valgrind --tool=callgrind --collect-atstart=no admission_bench
//     --iterations=200 --benchmark_filter=review$
// so Ir / N is the cost of one request.
#include <benchmark/benchmark.h>
#include <prometheus/registry.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "base/base64.h"
#include "base/json_doc.h"
#include "kube/http_server.h"
#include "kube/pki.h"
#include "policy/decision.h"
#include "policy/miner_policy.h"
#include "webhook/admission.h"
#include "webhook/audit.h"
#include "webhook/server.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define ORDERGUARD_COLLECT() CALLGRIND_TOGGLE_COLLECT
#else
#define ORDERGUARD_COLLECT() \
  do {                       \
  } while (0)
#endif

namespace {

namespace webhook = orderguard::webhook;
namespace policy = orderguard::policy;
namespace kube = orderguard::kube;
using orderguard::base64_encode;
using orderguard::JsonDoc;
using orderguard::JsonRef;

using nlohmann::json;

int64_t g_iterations = 0;  // 0: let Google Benchmark pick

std::string read_testdata(const std::string& name) {
  std::ifstream in(std::string(ORDERGUARD_BENCH_TESTDATA) + "/" + name, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read testdata %s\n", name.c_str());
    std::exit(1);
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const std::string& review_body() {
  static const std::string kBody = read_testdata("deployment3_review.json");
  return kBody;
}

// The same review with a fourth container that runs xmrig against a pool.
const std::string& denied_body() {
  static const std::string kBody = [] {
    json doc = json::parse(review_body());
    json miner = {{"name", "helper"},
                  {"image", "ubuntu:22.04"},
                  {"command", {"/opt/bin/xmrig"}},
                  {"args", {"-o", "stratum+tcp://pool.supportxmr.com:3333", "-u", "wallet"}}};
    doc["request"]["object"]["spec"]["template"]["spec"]["containers"].push_back(miner);
    return doc.dump();
  }();
  return kBody;
}

// 1 MiB of application settings, as a ConfigMap or Secret carries them: properties with
// URLs, pool sizes, ports, timeouts (nothing a miner would write).
std::string settings_1mib() {
  std::string out;
  for (int i = 0; out.size() < (1 << 20) - 200; ++i) {
    const std::string n = std::to_string(i);
    out += "service" + n + ".url=https://api" + n + ".example.com:8443/v1/orders?page=" + n + "\n";
    out += "service" + n + ".db.hikari.maximumPoolSize=" + std::to_string(i % 50) + "\n";
    out += "service" + n + ".redis=redis://cache-" + n + ":6379/0 timeout=5000ms\n";
  }
  return out;
}

const char* kXmrigConfig = R"({"donate-level": 1, "cpu": {"max-threads-hint": 50},
  "pools": [{"url": "pool.supportxmr.com:443", "user": "worker", "tls": true}]})";

// The AdmissionReview of a ConfigMap or Secret of 1 MiB (with `miner`, xmrig's config as
// one more key).
std::string config_review(const std::string& kind, bool miner) {
  json doc = json::parse(read_testdata("configmap_redis_review.json"));
  json& request = doc["request"];
  json data = {{"application.properties", settings_1mib()}};
  if (miner) data["config.json"] = kXmrigConfig;
  if (kind == "Secret") {
    for (auto it = data.begin(); it != data.end(); ++it) {
      *it = base64_encode(it->get<std::string>());
    }
    request["kind"]["kind"] = request["requestKind"]["kind"] = "Secret";
    request["resource"]["resource"] = request["requestResource"]["resource"] = "secrets";
    request["object"]["kind"] = "Secret";
    request["object"]["type"] = "Opaque";
  }
  request["object"]["data"] = data;
  return doc.dump();
}

// Runs `body` once outside the measured loop (lazy RE2 DFA states, statics), then
// the loop, collected by callgrind when it runs under it.
template <typename Body>
void measure(benchmark::State& state, Body body, size_t bytes = review_body().size()) {
  body();
  ORDERGUARD_COLLECT();
  for (auto _ : state) body();
  ORDERGUARD_COLLECT();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

webhook::AdmissionContext default_context() {
  webhook::AdmissionContext ctx;
  ctx.policies = std::make_shared<const policy::PolicySet>(policy::combine({}));
  return ctx;
}

void BM_Review(benchmark::State& state) {
  const auto ctx = default_context();
  const std::string& body = review_body();
  if (webhook::review(body, ctx).decision != "allowed") state.SkipWithError("not allowed");
  measure(state, [&] { benchmark::DoNotOptimize(webhook::review(body, ctx)); });
}

void BM_ReviewDenied(benchmark::State& state) {
  const auto ctx = default_context();
  const std::string& body = denied_body();
  if (webhook::review(body, ctx).decision != "denied") state.SkipWithError("not denied");
  measure(state, [&] { benchmark::DoNotOptimize(webhook::review(body, ctx)); });
}

void review_config(benchmark::State& state, const std::string& kind, bool miner) {
  const auto ctx = default_context();
  const std::string body = config_review(kind, miner);
  const std::string decision = webhook::review(body, ctx).decision;
  if (decision != (miner ? "denied" : "allowed")) state.SkipWithError(decision.c_str());
  state.counters["body_bytes"] = static_cast<double>(body.size());
  measure(
      state, [&] { benchmark::DoNotOptimize(webhook::review(body, ctx)); }, body.size());
}

void BM_ReviewConfigMap(benchmark::State& state) { review_config(state, "ConfigMap", false); }
void BM_ReviewConfigMapMiner(benchmark::State& state) { review_config(state, "ConfigMap", true); }
void BM_ReviewSecret(benchmark::State& state) { review_config(state, "Secret", false); }
void BM_ReviewSecretMiner(benchmark::State& state) { review_config(state, "Secret", true); }

void BM_Handle(benchmark::State& state) {
  webhook::Webhook hook(webhook::WebhookOptions{.port = 0, .metrics_port = 0}, nullptr,
                        std::make_shared<prometheus::Registry>());
  kube::HttpRequest req;
  req.method = "POST";
  req.target = req.path = "/validate";
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = review_body();
  measure(state, [&] { benchmark::DoNotOptimize(hook.handle(req)); });
}

void BM_AuditObject(benchmark::State& state) {
  const auto ctx = default_context();
  const json doc = json::parse(review_body());
  const json& object = doc["request"]["object"];
  const kube::Resource& r = kube::resources::kDeployments;
  if (webhook::audit_object(r, object, ctx)) state.SkipWithError("a violation");
  measure(state, [&] { benchmark::DoNotOptimize(webhook::audit_object(r, object, ctx)); });
}

void BM_PolicyEvaluate(benchmark::State& state) {
  const auto policies = policy::combine({});
  const JsonDoc doc = JsonDoc::parse(review_body()).value();
  const JsonRef request = doc.root().find("request");
  policy::AdmissionInput input;
  input.kind = request.find("kind").string_member("kind");
  input.operation = request.string_member("operation");
  input.namespace_name = request.string_member("namespace");
  input.name = request.string_member("name");
  input.user.username = request.find("userInfo").string_member("username");
  input.object_ref = request.find("object");
  measure(state, [&] { benchmark::DoNotOptimize(policy::evaluate(policies, input)); });
}

void BM_ParseNlohmann(benchmark::State& state) {
  const std::string& body = review_body();
  measure(state, [&] { benchmark::DoNotOptimize(json::parse(body)); });
}

void BM_ParseJsonDoc(benchmark::State& state) {
  const std::string& body = review_body();
  if (!JsonDoc::parse(body).ok()) state.SkipWithError("JsonDoc refuses the body");
  measure(state, [&] { benchmark::DoNotOptimize(JsonDoc::parse(body)); });
}

void BM_CompilePolicy(benchmark::State& state) {
  const std::string text = read_testdata("minerpolicy_full.json");
  const JsonDoc doc = JsonDoc::parse(text).value();
  if (!policy::compile(doc.root()).ok()) state.SkipWithError("the policy does not compile");
  measure(
      state, [&] { benchmark::DoNotOptimize(policy::compile(doc.root())); }, text.size());
}

void register_all() {
  auto reg = [](const char* name, void (*fn)(benchmark::State&)) {
    auto* b = benchmark::RegisterBenchmark(name, fn)->Unit(benchmark::kMicrosecond);
    if (g_iterations > 0) b->Iterations(g_iterations);
  };
  reg("review", BM_Review);
  reg("review_denied", BM_ReviewDenied);
  reg("review_configmap_1mib", BM_ReviewConfigMap);
  reg("review_configmap_1mib_miner", BM_ReviewConfigMapMiner);
  reg("review_secret_1mib", BM_ReviewSecret);
  reg("review_secret_1mib_miner", BM_ReviewSecretMiner);
  reg("handle", BM_Handle);
  reg("audit_object", BM_AuditObject);
  reg("policy", BM_PolicyEvaluate);
  reg("parse_nlohmann", BM_ParseNlohmann);
  reg("parse_jsondoc", BM_ParseJsonDoc);
  reg("compile_policy", BM_CompilePolicy);
}

}  // namespace

int main(int argc, char** argv) {
  // --iterations=N (ours; Google Benchmark 1.7 has no fixed-count flag).
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--iterations=", 13) == 0) {
      g_iterations = std::atoll(argv[i] + 13);
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
