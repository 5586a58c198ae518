// orderguard-webhook run as the chart runs it (self-managed certificates, leader-elected
// background audit), as separate processes against the real kube-apiserver:
// - the certificate Secret and the caBundle are made by the process, and the CA and the
//   serving certificate are rotated while the API server keeps calling it, with no failed
//   admission (short lifetimes set by flags make rotation happen within the test);
// - both replicas' admission denials add up in the MinerPolicy's status.admissionDenials,
//   which equals the sum of their orderguard_webhook_policy_denials_total counters;
// - of two replicas only the Lease holder audits (and writes the PolicyReport); it audits
//   at once rather than an interval later, and when it stops the other takes over and
//   audits.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "base/base64.h"
#include "e2e/cluster.h"
#include "e2e/environment.h"
#include "e2e/poll.h"
#include "e2e/process.h"
#include "kube/client.h"
#include "kube/pki.h"
#include "webhook/policy_report.h"
#include "webhook/server.h"
#include "webhook/test/e2e_support.h"

namespace orderguard::webhook {
namespace {

using e2e::cluster;
using e2e::poll_until;
using kube::json;
using namespace std::chrono_literals;
namespace res = kube::resources;

const std::string kNs = "og-system";  // Secret and Lease, as the chart's release namespace
const std::string kService = "og-webhook";
const std::string kConfig = "og-process-miners";
const std::string kSecret = "og-process-webhook-tls";
const std::string kAppNs = "shop";

json pod(const std::string& name, const std::string& ns, const std::string& image,
         const json& args = json::array()) {
  json c = {{"name", "main"}, {"image", image}};
  if (!args.empty()) c["args"] = args;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"containers", json::array({c})}}}};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

struct Replica {
  std::optional<e2e::Process> process;
  int port = 0;
  int metrics_port = 0;
  std::string log() const { return process ? read_text(process->log_path()) : ""; }
};

class WebhookProcessE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto crd = testing::install_security_crds();
    ASSERT_TRUE(crd.ok()) << crd.error().describe();
    crd = testing::install_policy_report_crds();
    ASSERT_TRUE(crd.ok()) << crd.error().describe();
    client_ = std::move(kube::make_client(cluster().admin_config())).value();
    for (const std::string& ns : {kNs, kAppNs}) {
      ASSERT_TRUE(cluster().kubectl({"create", "namespace", ns}).ok());
    }
    ASSERT_TRUE(poll_until(
        [] { return client_->get(res::kServiceAccounts, kAppNs, "default").ok(); }, 60s));
    // Admitted before any webhook exists: what the audit has to find.
    auto legacy = client_->create(
        res::kPods, kAppNs,
        pod("legacy-miner", kAppNs, "ubuntu:24.04", {"-o", "stratum+tcp://pool.minexmr.com:4444"}));
    ASSERT_TRUE(legacy.ok()) << legacy.error().describe();
    auto policy = cluster().kubectl({"apply", "-f", "-"},
                                    json{{"apiVersion", "security.orderguard.io/v1alpha1"},
                                         {"kind", "MinerPolicy"},
                                         {"metadata", {{"name", "default"}}},
                                         {"spec", {{"mode", "Enforce"}}}}
                                        .dump());
    ASSERT_TRUE(policy.ok()) << policy.describe();

    // Two replicas, as the chart runs them; the API server calls the first.
    for (auto* r : {&a_, &b_}) {
      auto ports = e2e::free_ports(2);
      ASSERT_TRUE(ports.ok()) << ports.error().describe();
      r->port = (*ports)[0];
      r->metrics_port = (*ports)[1];
    }
    // No caBundle: the webhook writes it. failurePolicy Fail, so an admission the
    // API server cannot verify fails instead of passing unnoticed.
    json config = testing::miner_webhook_config(kConfig, "Fail", a_.port, "");
    config["webhooks"][0]["clientConfig"].erase("caBundle");
    auto registered = cluster().kubectl({"apply", "-f", "-"}, config.dump());
    ASSERT_TRUE(registered.ok()) << registered.describe();

    start(a_, "webhook-a");
    start(b_, "webhook-b");
    for (auto* r : {&a_, &b_}) {
      ASSERT_TRUE(poll_until([r] { return ready(*r); }, 90s)) << "replica not ready; log:\n"
                                                              << r->log();
    }
  }

  static void TearDownTestSuite() {
    if (client_) (void)client_->remove(res::kValidatingWebhookConfigurations, "", kConfig);
    for (auto* r : {&a_, &b_}) {
      if (r->process) r->process->terminate(10s);
    }
    client_.reset();
  }

  // Short lifetimes so that rotation happens while the test watches: the CA is
  // rotated about 30 s after it is made, the serving certificate about 15 s after.
  static void start(Replica& r, const std::string& name) {
    auto spawned = e2e::Process::spawn({.name = name,
                                        .argv = {ORDERGUARD_WEBHOOK_BINARY,
                                                 "--kubeconfig",
                                                 cluster().kubeconfig_path(),
                                                 "--listen",
                                                 "127.0.0.1:" + std::to_string(r.port),
                                                 "--metrics-addr",
                                                 "127.0.0.1:" + std::to_string(r.metrics_port),
                                                 "--cert-mode",
                                                 "self-managed",
                                                 "--namespace",
                                                 kNs,
                                                 "--service-name",
                                                 kService,
                                                 "--webhook-config-name",
                                                 kConfig,
                                                 "--secret-name",
                                                 kSecret,
                                                 "--extra-san",
                                                 "127.0.0.1",
                                                 "--ca-validity",
                                                 "90s",
                                                 "--ca-renew-before",
                                                 "60s",
                                                 "--cert-validity",
                                                 "40s",
                                                 "--cert-renew-before",
                                                 "25s",
                                                 "--cert-check-interval",
                                                 "1s",
                                                 "--leader-elect",
                                                 "--audit-interval",
                                                 "10m"},
                                        .log_path = cluster().work_dir() + "/" + name + ".log"});
    ASSERT_TRUE(spawned.ok()) << spawned.error().describe();
    r.process.emplace(std::move(spawned).value());
  }

  static bool ready(const Replica& r) {
    return e2e::run_command({"curl", "-sf", "--max-time", "2",
                             "http://127.0.0.1:" + std::to_string(r.metrics_port) + "/readyz"})
        .ok();
  }

  static json get(const kube::Resource& r, const std::string& ns, const std::string& name) {
    auto obj = client_->get(r, ns, name);
    return obj.ok() ? *obj : json();
  }

  static std::string secret_value(const json& secret, const std::string& key) {
    if (!secret.contains("data") || !secret["data"].contains(key)) return "";
    auto decoded = base64_decode(secret["data"][key].get<std::string>());
    return decoded.ok() ? *decoded : "";
  }

  static std::string ca_bundle() {
    json config = get(res::kValidatingWebhookConfigurations, "", kConfig);
    if (config.is_null()) return "";
    auto b64 = config["webhooks"][0]["clientConfig"].value("caBundle", "");
    auto decoded = base64_decode(b64);
    return decoded.ok() ? *decoded : "";
  }

  static inline std::unique_ptr<kube::Client> client_;
  static inline Replica a_, b_;
};

TEST_F(WebhookProcessE2E, SelfManagedCertificatesAreMadeAndPublished) {
  json secret = get(res::kSecrets, kNs, kSecret);
  ASSERT_FALSE(secret.is_null()) << "the webhook did not create its Secret";
  for (const char* key : {"ca.crt", "ca.key", "tls.crt", "tls.key"}) {
    EXPECT_FALSE(secret_value(secret, key).empty()) << key;
  }
  // Both replicas serve what the Secret holds; the bundle holds its CA.
  EXPECT_NE(ca_bundle().find(secret_value(secret, "ca.crt")), std::string::npos);
  // Admission goes through the process: a miner is refused, a benign Pod admitted.
  auto refusal = testing::wait_for_pod_refusal(
      *client_, kAppNs, pod("miner", kAppNs, "xmrig/xmrig"), "blocked-image", 60s);
  EXPECT_NE(refusal.find("blocked-image"), std::string::npos) << refusal;
  auto benign = client_->create(res::kPods, kAppNs, pod("benign", kAppNs, "nginx:1.27"));
  EXPECT_TRUE(benign.ok()) << benign.error().describe();
}

TEST_F(WebhookProcessE2E, CaAndServingCertificateRotateWhileServingWithNoFailedAdmission) {
  std::atomic<bool> stop{false};
  std::atomic<int> attempts{0}, failures{0};
  std::mutex mu;
  std::vector<std::string> failure_messages;
  std::thread load([&] {
    for (int i = 0; !stop.load(); ++i) {
      // Every fifth request is a miner: proof that the webhook is really called.
      const bool miner = i % 5 == 4;
      json p = miner ? pod("rot-miner-" + std::to_string(i), kAppNs, "xmrig/xmrig")
                     : pod("rot-" + std::to_string(i), kAppNs, "nginx:1.27");
      auto created = client_->create(res::kPods, kAppNs, p);
      attempts++;
      const bool refused_as_miner =
          !created.ok() && created.error().message.find("blocked-image") != std::string::npos;
      if (miner ? !refused_as_miner : !created.ok()) {
        failures++;
        std::lock_guard<std::mutex> lock(mu);
        failure_messages.push_back(created.ok() ? "miner admitted" : created.error().describe());
      }
      if (created.ok())
        (void)client_->remove(res::kPods, kAppNs, p["metadata"]["name"].get<std::string>());
    }
  });

  // Watch the Secret and the bundle until the CA has been rotated twice while
  // serving, and the serving certificate more often than that.
  std::set<std::string> cas, leaves;
  bool saw_overlap = false;
  const bool rotated = poll_until(
      [&] {
        json secret = get(res::kSecrets, kNs, kSecret);
        if (secret.is_null()) return false;
        cas.insert(secret_value(secret, "ca.crt"));
        leaves.insert(secret_value(secret, "tls.crt"));
        if (count_of(ca_bundle(), "BEGIN CERTIFICATE") == 2) saw_overlap = true;
        return cas.size() >= 3 && leaves.size() >= 5;
      },
      240s);
  stop = true;
  load.join();

  ASSERT_TRUE(rotated) << cas.size() << " CAs and " << leaves.size()
                       << " serving certificates seen";
  EXPECT_TRUE(saw_overlap) << "old and new CA were never both in the caBundle";
  EXPECT_GE(attempts.load(), 20);
  EXPECT_EQ(failures.load(), 0) << "of " << attempts.load() << "; first: "
                                << (failure_messages.empty() ? "" : failure_messages.front());
  EXPECT_TRUE(a_.process->running()) << a_.log();
  EXPECT_TRUE(b_.process->running()) << b_.log();
}

// orderguard_webhook_policy_denials_total{policy="<policy>"} of `r` (-1 when unreadable).
double policy_denials(const Replica& r, const std::string& policy) {
  auto scraped =
      e2e::run_command({"curl", "-sf", "--max-time", "5",
                        "http://127.0.0.1:" + std::to_string(r.metrics_port) + "/metrics"});
  if (!scraped.ok()) return -1;
  const std::string series = "orderguard_webhook_policy_denials_total{policy=\"" + policy + "\"} ";
  const size_t at = scraped.out.find(series);
  if (at == std::string::npos) return 0;
  return std::stod(scraped.out.substr(at + series.size()));
}

// The value of the series `series` (its name and labels as Prometheus prints them) in the
// text exposition `text`; -1 when it is not there.
double series_value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// /metrics of a running webhook carries client-go's REST client metrics (a nonzero count of
// answered requests to this API server, by code, method and host) and the process_* metrics.
TEST_F(WebhookProcessE2E, MetricsFollowClientGoConventions) {
  auto scraped =
      e2e::run_command({"curl", "-sf", "--max-time", "5",
                        "http://127.0.0.1:" + std::to_string(a_.metrics_port) + "/metrics"});
  ASSERT_TRUE(scraped.ok()) << scraped.describe();
  const std::string& text = scraped.out;
  const std::string server = cluster().server();
  const std::string host = server.substr(server.find("://") + 3);
  EXPECT_GT(series_value(text, R"(rest_client_requests_total{code="200",host=")" + host +
                                   R"(",method="GET"})"),
            0)
      << text;
  EXPECT_GT(series_value(text, R"(rest_client_request_duration_seconds_count{host=")" + host +
                                   R"(",verb="GET"})"),
            0)
      << text;
  EXPECT_NE(text.find("# TYPE rest_client_rate_limiter_duration_seconds histogram"),
            std::string::npos);
  for (const char* family : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                             "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                             "process_start_time_seconds"}) {
    EXPECT_GT(series_value(text, family), 0) << family << "\n" << text;
  }
}

// The API server calls replica a; replica b is sent refused AdmissionReviews directly (as
// the Service would spread them). The status adds both up, whichever of them leads.
TEST_F(WebhookProcessE2E, AdmissionDenialsOfEveryReplicaAddUpInTheStatus) {
  for (int i = 0; i < 4; ++i) {
    json miner = pod("burst-" + std::to_string(i), kAppNs, "xmrig/xmrig");
    auto created = client_->create(res::kPods, kAppNs, miner);
    ASSERT_FALSE(created.ok()) << "admitted through replica a";
  }
  json review = {{"apiVersion", "admission.k8s.io/v1"},
                 {"kind", "AdmissionReview"},
                 {"request",
                  {{"uid", "b-0"},
                   {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                   {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                   {"namespace", kAppNs},
                   {"name", "direct"},
                   {"operation", "CREATE"},
                   {"userInfo", {{"username", "e2e"}}},
                   {"object", pod("direct", kAppNs, "xmrig/xmrig")}}}};
  for (int i = 0; i < 3; ++i) {
    auto answer = e2e::run_command(
        {"curl", "-sfk", "--max-time", "5", "-H", "Content-Type: application/json", "--data-binary",
         "@-", "https://127.0.0.1:" + std::to_string(b_.port) + "/validate"},
        {.input = review.dump()});
    ASSERT_TRUE(answer.ok()) << answer.describe();
    EXPECT_EQ(json::parse(answer.out)["response"]["allowed"], false) << answer.out;
  }
  EXPECT_GE(policy_denials(a_, "default"), 4);
  EXPECT_EQ(policy_denials(b_, "default"), 3);
  json status;
  EXPECT_TRUE(poll_until(
      [&] {
        const json policy = get(kMinerPolicies, "", "default");
        status = policy.is_object() ? policy.value("status", json::object()) : json::object();
        return status.value("admissionDenials", -1.0) ==
               policy_denials(a_, "default") + policy_denials(b_, "default");
      },
      30s))
      << status.dump() << " vs a " << policy_denials(a_, "default") << " + b "
      << policy_denials(b_, "default");
}

// Last: stops one replica.
TEST_F(WebhookProcessE2E, OnlyTheLeaseHolderAuditsAndAnotherTakesOver) {
  const std::string kPass = "\"msg\":\"audit pass done\"";
  const std::string kLeading = "\"msg\":\"leading the audit\"";
  // The first pass comes as soon as a replica leads (the interval is 10 minutes).
  ASSERT_TRUE(
      poll_until([&] { return count_of(a_.log(), kPass) + count_of(b_.log(), kPass) >= 1; }, 60s))
      << "no audit pass; logs:\n"
      << a_.log() << "\n"
      << b_.log();
  Replica& leader = count_of(a_.log(), kLeading) > 0 ? a_ : b_;
  Replica& follower = &leader == &a_ ? b_ : a_;
  EXPECT_EQ(count_of(follower.log(), kPass), 0u) << "a replica audited without the Lease";
  EXPECT_EQ(count_of(follower.log(), kLeading), 0u);

  // What it found: an Event on the Pod admitted before the webhook existed, and a result in
  // the namespace's PolicyReport.
  EXPECT_TRUE(poll_until(
      [] { return !testing::events_about(*client_, kAppNs, "legacy-miner").empty(); }, 30s))
      << "no Event on the legacy miner Pod";
  json report;
  EXPECT_TRUE(poll_until(
      [&] {
        report = get(kPolicyReports, kAppNs, "orderguard");
        if (!report.is_object()) return false;
        for (const auto& r : report.value("results", json::array())) {
          if (r["resources"][0].value("name", "") == "legacy-miner") return true;
        }
        return false;
      },
      30s))
      << report.dump();

  // The leader goes away (SIGTERM releases the Lease); the other takes over and audits.
  leader.process->terminate(10s);
  EXPECT_TRUE(poll_until([&] { return count_of(follower.log(), kPass) >= 1; }, 90s))
      << "the remaining replica did not audit; log:\n"
      << follower.log();
  EXPECT_GE(count_of(follower.log(), kLeading), 1u);
}

}  // namespace
}  // namespace orderguard::webhook

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
