// What the REST client does without an API server: paths, the resource table,
// configuration checks, cancellation and transport failures. Requests against a
// real kube-apiserver are covered by e2e/.
#include "kube/client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

namespace orderguard::kube {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

TEST(ResourcePathTest, CoreAndGroupedPaths) {
  EXPECT_EQ(resources::kPods.path("shop"), "/api/v1/namespaces/shop/pods");
  EXPECT_EQ(resources::kPods.path("shop", "web-0"), "/api/v1/namespaces/shop/pods/web-0");
  EXPECT_EQ(resources::kPods.path("shop", "web-0", "eviction"),
            "/api/v1/namespaces/shop/pods/web-0/eviction");
  EXPECT_EQ(resources::kPods.path(""), "/api/v1/pods");  // all namespaces
  EXPECT_EQ(resources::kDeployments.path("shop", "web", "status"),
            "/apis/apps/v1/namespaces/shop/deployments/web/status");
  // Cluster-scoped resources ignore a namespace.
  EXPECT_EQ(resources::kNodes.path("shop", "node-a"), "/api/v1/nodes/node-a");
  EXPECT_EQ(resources::kNamespaces.path("", "shop"), "/api/v1/namespaces/shop");
  EXPECT_EQ(resources::kCustomResourceDefinitions.path("", "orderservices.tiers.orderguard.io"),
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
            "orderservices.tiers.orderguard.io");
  // A subresource without a name makes no sense and is dropped.
  EXPECT_EQ(resources::kPods.path("shop", "", "status"), "/api/v1/namespaces/shop/pods");
}

TEST(ResourcePathTest, SegmentsAreEscaped) {
  const Resource cluster_roles{"rbac.authorization.k8s.io", "v1", "clusterroles", false,
                               "ClusterRole"};
  EXPECT_EQ(cluster_roles.path("", "system:controller:job"),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:job");
  EXPECT_EQ(resources::kPods.path("a/b", "x y?"), "/api/v1/namespaces/a%2Fb/pods/x%20y%3F");
}

TEST(ResourcesTest, WellKnownResources) {
  struct Row {
    const Resource* r;
    const char* api_version;
    const char* plural;
    const char* kind;
    bool namespaced;
  };
  const Row rows[] = {
      {&resources::kNamespaces, "v1", "namespaces", "Namespace", false},
      {&resources::kPods, "v1", "pods", "Pod", true},
      {&resources::kConfigMaps, "v1", "configmaps", "ConfigMap", true},
      {&resources::kSecrets, "v1", "secrets", "Secret", true},
      {&resources::kServices, "v1", "services", "Service", true},
      {&resources::kServiceAccounts, "v1", "serviceaccounts", "ServiceAccount", true},
      {&resources::kNodes, "v1", "nodes", "Node", false},
      {&resources::kEvents, "events.k8s.io/v1", "events", "Event", true},
      {&resources::kLeases, "coordination.k8s.io/v1", "leases", "Lease", true},
      {&resources::kDeployments, "apps/v1", "deployments", "Deployment", true},
      {&resources::kStatefulSets, "apps/v1", "statefulsets", "StatefulSet", true},
      {&resources::kDaemonSets, "apps/v1", "daemonsets", "DaemonSet", true},
      {&resources::kReplicaSets, "apps/v1", "replicasets", "ReplicaSet", true},
      {&resources::kJobs, "batch/v1", "jobs", "Job", true},
      {&resources::kCronJobs, "batch/v1", "cronjobs", "CronJob", true},
      {&resources::kPodDisruptionBudgets, "policy/v1", "poddisruptionbudgets",
       "PodDisruptionBudget", true},
      {&resources::kHorizontalPodAutoscalers, "autoscaling/v2", "horizontalpodautoscalers",
       "HorizontalPodAutoscaler", true},
      {&resources::kCustomResourceDefinitions, "apiextensions.k8s.io/v1",
       "customresourcedefinitions", "CustomResourceDefinition", false},
      {&resources::kValidatingWebhookConfigurations, "admissionregistration.k8s.io/v1",
       "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", false},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(row.r->api_version(), row.api_version) << row.kind;
    EXPECT_EQ(row.r->plural, row.plural) << row.kind;
    EXPECT_EQ(row.r->kind, row.kind);
    EXPECT_EQ(row.r->namespaced, row.namespaced) << row.kind;
  }
}

TEST(CancellerTest, CopiesShareStateAndWakeWaiters) {
  Canceller cancel;
  const Canceller copy = cancel;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_FALSE(copy.cancelled());
  EXPECT_FALSE(copy.wait_for(1ms));
  std::thread canceller([cancel]() mutable { cancel.cancel(); });
  EXPECT_TRUE(copy.wait_for(60s));  // returns when cancelled, not after 60 s
  canceller.join();
  EXPECT_TRUE(cancel.cancelled());
  cancel.cancel();  // idempotent
}

Config config_from_testdata() {
  auto cfg = load_kubeconfig(std::string(ORDERGUARD_KUBE_TESTDATA) + "/kubeconfig/inline.yaml");
  EXPECT_TRUE(cfg.ok());
  return cfg.ok() ? *cfg : Config{};
}

TEST(MakeClientTest, AcceptsAKubeconfig) {
  auto client = make_client(config_from_testdata());
  ASSERT_TRUE(client.ok()) << client.error().message;
}

TEST(MakeClientTest, RejectsBadConfigUpFront) {
  Config cfg;
  auto client = make_client(cfg);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, ErrorCode::kInvalid);
  EXPECT_THAT(client.error().message, HasSubstr("server is empty"));

  cfg.server = "ftp://example.com";
  client = make_client(cfg);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.error().message, HasSubstr("https or http"));

  cfg = config_from_testdata();
  cfg.client_key_pem = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
  client = make_client(cfg);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, ErrorCode::kInvalid);
  EXPECT_THAT(client.error().message, HasSubstr("TLS material rejected"));
  EXPECT_THAT(client.error().message, HasSubstr(cfg.source));
}

// A loopback port with nothing listening: bind to port 0, then close.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(ClientTransportTest, ConnectionRefusedIsUnavailable) {
  Config cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(closed_port());
  cfg.request_timeout = 5s;
  auto client = make_client(cfg);
  ASSERT_TRUE(client.ok()) << client.error().message;

  auto got = (*client)->get(resources::kPods, "shop", "web-0");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable) << got.error().message;
  EXPECT_THAT(got.error().message,
              HasSubstr("GET " + cfg.server + "/api/v1/namespaces/shop/pods/web-0"));
  EXPECT_TRUE(got.error().transient());
  // What it is, with the address.
  EXPECT_THAT(got.error().message,
              HasSubstr("connection refused by 127.0.0.1:" + cfg.server.substr(17)));
  EXPECT_THAT(got.error().message, Not(HasSubstr("route")));

  Canceller cancel;
  const Status watched = (*client)->watch(
      resources::kPods, "shop", {}, [](WatchEvent&&) {}, cancel);
  ASSERT_FALSE(watched.ok());
  EXPECT_EQ(watched.error().code, ErrorCode::kUnavailable) << watched.error().message;
  // The watch found the server still refusing with a plain TCP connect.
  EXPECT_THAT(watched.error().message,
              HasSubstr("connection refused by 127.0.0.1:" + cfg.server.substr(17)));
  EXPECT_THAT(watched.error().message,
              HasSubstr("WATCH " + cfg.server + "/api/v1/namespaces/shop/pods"));
}

// Requests the client sent that ended without an answer (rest_client_requests_total
// with code "<error>"): one per connection attempt.
double failed_attempts(prometheus::Registry& registry) {
  double sum = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "rest_client_requests_total") continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "code" && label.value == "<error>") sum += metric.counter.value;
      }
    }
  }
  return sum;
}

// A refused connection means the server is not there: trying again at once on
// a new connection only burns CPU. The caller's backoff decides (client-go
// does not retry a refused connect either).
TEST(ClientTransportTest, RefusedConnectionIsTriedOnce) {
  prometheus::Registry registry;
  Config cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(closed_port());
  auto client = make_client(cfg, {.metrics = &registry});
  ASSERT_TRUE(client.ok()) << client.error().message;

  auto got = (*client)->get(resources::kPods, "shop", "web-0");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(failed_attempts(registry), 1);
  auto applied = (*client)->apply(resources::kConfigMaps, "shop",
                                  json{{"metadata", {{"name", "x"}}}}, {.field_manager = "test"});
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(failed_attempts(registry), 2);
  auto listed = (*client)->list_all(resources::kPods, "shop", {});
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(failed_attempts(registry), 3);
}

TEST(ClientTransportTest, CancelledWatchReturnsAtOnce) {
  Config cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(closed_port());
  auto client = make_client(cfg);
  ASSERT_TRUE(client.ok());
  Canceller cancel;
  cancel.cancel();
  const Status watched = (*client)->watch(
      resources::kPods, "", {}, [](WatchEvent&&) {}, cancel);
  ASSERT_FALSE(watched.ok());
  EXPECT_EQ(watched.error().code, ErrorCode::kCancelled);
}

TEST(ClientTransportTest, NamespacedCallsNeedANamespace) {
  Config cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(closed_port());
  auto client = make_client(cfg);
  ASSERT_TRUE(client.ok());
  // Refused locally: no request would have reached the all-namespaces collection.
  auto got = (*client)->get(resources::kPods, "", "web-0");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::kInvalid);
  auto applied = (*client)->apply(resources::kConfigMaps, "", json{{"metadata", {{"name", "x"}}}},
                                  ApplyOptions{});
  ASSERT_FALSE(applied.ok());
  EXPECT_THAT(applied.error().message, HasSubstr("field manager"));
  const Status evicted = (*client)->evict("", "web-0");
  ASSERT_FALSE(evicted.ok());
  EXPECT_EQ(evicted.error().code, ErrorCode::kInvalid);
}

}  // namespace
}  // namespace orderguard::kube
