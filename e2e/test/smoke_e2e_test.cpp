// The harness itself against the real control plane: it answers, its
// controllers run, the API server survives a restart, etcd compacts, and the
// credentials it hands out work.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "e2e/environment.h"
#include "e2e/poll.h"
#include "kube/pki.h"

namespace orderguard::e2e {
namespace {

using std::chrono::seconds;
using json = nlohmann::json;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

json kubectl_json(const std::vector<std::string>& args) {
  auto r = cluster().kubectl(args);
  if (!r.ok()) return json();
  return json::parse(r.out, nullptr, false);
}

void create_namespace(const std::string& ns) {
  auto r = cluster().kubectl({"create", "namespace", ns});
  ASSERT_TRUE(r.ok()) << r.describe();
}

TEST(ControlPlaneSmoke, AnswersReadyz) {
  auto r = cluster().kubectl({"get", "--raw", "/readyz"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(trimmed(r.out), "ok");
}

TEST(ControlPlaneSmoke, ServerIsThePinnedKubernetesVersion) {
  auto r = cluster().kubectl({"version", "-o", "json"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto version = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(version.is_discarded()) << r.out;
  EXPECT_EQ(version["serverVersion"]["gitVersion"], "v1.34.4") << r.out;
}

TEST(ControlPlaneSmoke, DeploymentGetsReplicaSetAndPodsFromControllerManager) {
  const std::string ns = "smoke-deploy";
  create_namespace(ns);
  const json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}, {"namespace", ns}}},
      {"spec",
       {{"replicas", 2},
        {"selector", {{"matchLabels", {{"app", "web"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec", {{"containers", {{{"name", "web"}, {"image", "nginx:1.27"}}}}}}}}}}};
  auto applied = cluster().kubectl({"apply", "-f", "-"}, deployment.dump());
  ASSERT_TRUE(applied.ok()) << applied.describe();

  std::string rs_name;
  const bool rs_ready = poll_until(
      [&] {
        auto list = kubectl_json({"get", "replicasets", "-n", ns, "-l", "app=web", "-o", "json"});
        if (!list.is_object() || list["items"].size() != 1) return false;
        const auto& rs = list["items"][0];
        if (rs["metadata"]["ownerReferences"][0]["name"] != "web") return false;
        rs_name = rs["metadata"]["name"];
        return rs["status"].value("replicas", 0) == 2;
      },
      seconds(60));
  ASSERT_TRUE(rs_ready) << "no ReplicaSet with 2 replicas for deployment web; controller-manager "
                           "log:\n"
                        << cluster().log_tail("kube-controller-manager");

  size_t pod_count = 0;
  const bool pods_created = poll_until(
      [&] {
        auto pods = kubectl_json({"get", "pods", "-n", ns, "-l", "app=web", "-o", "json"});
        if (!pods.is_object()) return false;
        pod_count = 0;
        for (const auto& pod : pods["items"]) {
          if (pod["metadata"]["ownerReferences"][0]["name"] == rs_name) ++pod_count;
        }
        return pod_count == 2;
      },
      seconds(60));
  EXPECT_TRUE(pods_created) << "pods owned by " << rs_name << ": " << pod_count;

  // Garbage collection runs too: deleting the Deployment removes its children.
  auto deleted = cluster().kubectl({"delete", "deployment", "web", "-n", ns, "--wait=false"});
  ASSERT_TRUE(deleted.ok()) << deleted.describe();
  EXPECT_TRUE(poll_until(
      [&] {
        auto pods = kubectl_json({"get", "pods", "-n", ns, "-o", "json"});
        return pods.is_object() && pods["items"].empty();
      },
      seconds(60)))
      << "pods of a deleted deployment were not garbage-collected";
}

TEST(ControlPlaneSmoke, ApiServerRestartsOnTheSameAddressWithItsData) {
  const std::string ns = "smoke-restart";
  create_namespace(ns);
  auto created =
      cluster().kubectl({"create", "configmap", "survivor", "-n", ns, "--from-literal=k=v"});
  ASSERT_TRUE(created.ok()) << created.describe();
  const std::string server = cluster().server();

  ASSERT_TRUE(cluster().stop_apiserver().ok());
  EXPECT_FALSE(cluster().apiserver_running());
  auto while_down = cluster().kubectl({"--request-timeout=3s", "get", "--raw", "/readyz"});
  EXPECT_FALSE(while_down.ok()) << "the API server still answers after stop_apiserver()";

  auto started = cluster().start_apiserver();
  ASSERT_TRUE(started.ok()) << started.error().message;
  EXPECT_EQ(cluster().server(), server);
  auto value =
      cluster().kubectl({"get", "configmap", "survivor", "-n", ns, "-o", "jsonpath={.data.k}"});
  ASSERT_TRUE(value.ok()) << value.describe();
  EXPECT_EQ(value.out, "v");

  // The controller manager reconnects and keeps working.
  const std::string ns2 = "smoke-after-restart";
  create_namespace(ns2);
  EXPECT_TRUE(poll_until(
      [&] {
        return cluster().kubectl({"get", "serviceaccount", "default", "-n", ns2}).ok();
      },
      seconds(60)))
      << cluster().log_tail("kube-controller-manager");
}

TEST(ControlPlaneSmoke, CompactEtcdDiscardsOldRevisions) {
  const std::string ns = "smoke-compact";
  create_namespace(ns);
  auto first = cluster().compact_etcd();
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(cluster().kubectl({"create", "configmap", "c", "-n", ns}).ok());
  auto second = cluster().compact_etcd();
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_GT(*second, *first);

  // etcd itself no longer has the older revision.
  auto old_read = cluster().etcd_call("/v3/kv/range",
                                      {{"key", base64_encode("/registry/configmaps/" + ns + "/c")},
                                       {"revision", std::to_string(*first)}});
  ASSERT_FALSE(old_read.ok()) << old_read->dump();
  EXPECT_NE(old_read.error().message.find("required revision has been compacted"),
            std::string::npos)
      << old_read.error().message;
  // Compacting twice in a row is fine, and the API server keeps serving.
  EXPECT_TRUE(cluster().compact_etcd().ok());
  EXPECT_TRUE(cluster().kubectl({"get", "configmap", "c", "-n", ns}).ok());
}

TEST(ControlPlaneSmoke, AdminConfigMatchesTheCluster) {
  const kube::Config config = cluster().admin_config();
  EXPECT_EQ(config.server, cluster().server());
  auto ca = kube::Certificate::from_pem(config.ca_pem);
  auto client = kube::Certificate::from_pem(config.client_cert_pem);
  auto key = kube::PrivateKey::from_pem(config.client_key_pem);
  ASSERT_TRUE(ca.ok() && client.ok() && key.ok());
  EXPECT_TRUE(client->matches_key(*key));
  EXPECT_EQ(client->organizations(), std::vector<std::string>{"system:masters"});
  EXPECT_TRUE(kube::verify_certificate(*client, {*ca}, false, /*client_auth=*/true).ok());
}

TEST(ControlPlaneSmoke, ServiceAccountTokenAuthenticatesAsThatAccount) {
  auto config = cluster().service_account_config("smoke-sa", "robot", seconds(3600));
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_FALSE(config->token.empty());
  // Asking twice reuses the namespace and account.
  ASSERT_TRUE(cluster().service_account_config("smoke-sa", "robot").ok());

  // A kubectl that knows nothing but the token and the CA.
  const std::string ca_file = cluster().work_dir() + "/pki/ca.crt";
  CommandOptions opts;
  opts.env = {"HOME=" + cluster().work_dir() + "/home", "KUBECONFIG=/dev/null"};
  auto whoami = run_command({cluster().tools_bin() + "/kubectl", "--server=" + config->server,
                             "--certificate-authority=" + ca_file, "--token=" + config->token,
                             "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"},
                            opts);
  ASSERT_TRUE(whoami.ok()) << whoami.describe();
  EXPECT_EQ(whoami.out, "system:serviceaccount:smoke-sa:robot");
  // RBAC applies: the account has no grants.
  auto forbidden = run_command({cluster().tools_bin() + "/kubectl", "--server=" + config->server,
                                "--certificate-authority=" + ca_file, "--token=" + config->token,
                                "get", "secrets", "-n", "smoke-sa"},
                               opts);
  EXPECT_FALSE(forbidden.ok());
  EXPECT_NE(forbidden.err.find("Forbidden"), std::string::npos) << forbidden.describe();
}

TEST(ControlPlaneStartup, FailureNamesTheComponentAndQuotesItsLogThenCleansUp) {
  ControlPlaneOptions options;
  options.tools_bin = cluster().tools_bin();
  options.controller_manager = false;
  options.extra_apiserver_flags = {"--no-such-flag=1"};
  auto cp = ControlPlane::start(options);
  ASSERT_FALSE(cp.ok());
  const std::string& message = cp.error().message;
  EXPECT_NE(message.find("kube-apiserver exited"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown flag: --no-such-flag"), std::string::npos) << message;

  // The work dir named in the message is gone, and so is its etcd.
  const auto start = message.find("/tmp/orderguard-e2e-");
  ASSERT_NE(start, std::string::npos) << message;
  const std::string dir = message.substr(start, message.find("/logs/", start) - start);
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  auto etcds = run_command({"pgrep", "-f", "--", "--data-dir=" + dir + "/etcd-data"});
  EXPECT_EQ(etcds.out, "") << "etcd of the failed start still runs";
}

}  // namespace
}  // namespace orderguard::e2e

int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
