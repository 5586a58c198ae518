#include "kube/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace orderguard::kube {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const fs::path kTestdata = fs::path(ORDERGUARD_KUBE_TESTDATA) / "kubeconfig";

std::string kubeconfig(const std::string& relative) { return (kTestdata / relative).string(); }

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "orderguard-config-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Asserts a load failed with kInvalid and that the message names the file and
// the field, the two things a user needs to fix it.
void expect_invalid(const Result<Config>& got, const std::string& file, const std::string& field,
                    const std::string& problem) {
  ASSERT_FALSE(got.ok()) << "expected an error mentioning " << field;
  EXPECT_EQ(got.error().code, ErrorCode::kInvalid);
  const std::string& msg = got.error().message;
  EXPECT_THAT(msg, StartsWith("kubeconfig " + file + ": ")) << msg;
  if (!field.empty()) {
    EXPECT_THAT(msg, HasSubstr(": " + field + ": ")) << msg;
  }
  EXPECT_THAT(msg, HasSubstr(problem)) << msg;
}

// --- good kubeconfigs ------------------------------------------------------

TEST(KubeconfigTest, InlineDataUsesCurrentContext) {
  const std::string path = kubeconfig("inline.yaml");
  auto cfg = load_kubeconfig(path);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, read(kTestdata / "pki/ca.crt"));
  EXPECT_EQ(cfg->client_cert_pem, read(kTestdata / "pki/client.crt"));
  EXPECT_EQ(cfg->client_key_pem, read(kTestdata / "pki/client.key"));
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_TRUE(cfg->token.empty());
  EXPECT_TRUE(cfg->token_file.empty());
  EXPECT_EQ(cfg->default_namespace, "shop");
  EXPECT_EQ(cfg->source, "kubeconfig " + path + " context kind-admin");
}

TEST(KubeconfigTest, ExplicitContextWithRsaKey) {
  auto cfg = load_kubeconfig(kubeconfig("inline.yaml"), "kind-rsa");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->client_cert_pem, read(kTestdata / "pki/client-rsa.crt"));
  EXPECT_EQ(cfg->client_key_pem, read(kTestdata / "pki/client-rsa.key"));
  EXPECT_EQ(cfg->default_namespace, "");
}

TEST(KubeconfigTest, ExplicitContextWithTokenInsecureAndServerName) {
  auto cfg = load_kubeconfig(kubeconfig("inline.yaml"), "robot");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://10.0.0.1:443");  // trailing slash dropped
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->tls_server_name, "kubernetes.default.svc");
  EXPECT_EQ(cfg->token, "static-robot-token");
  EXPECT_TRUE(cfg->ca_pem.empty());
  EXPECT_TRUE(cfg->client_cert_pem.empty());
}

TEST(KubeconfigTest, RelativeFilePathsResolveAgainstTheKubeconfigFolder) {
  // The working directory is the build tree, so only resolution against the
  // kubeconfig's folder can find pki/.
  auto cfg = load_kubeconfig(kubeconfig("files.yaml"));
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->ca_pem, read(kTestdata / "pki/ca.crt"));
  EXPECT_EQ(cfg->client_cert_pem, read(kTestdata / "pki/client.crt"));
  EXPECT_EQ(cfg->client_key_pem, read(kTestdata / "pki/client.key"));
}

TEST(KubeconfigTest, ParentRelativePathsAndServerWithoutScheme) {
  auto cfg = load_kubeconfig(kubeconfig("nested/config"));
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->client_key_pem, read(kTestdata / "pki/client-rsa.key"));
}

TEST(KubeconfigTest, TokenFileIsResolvedAndKeptAsAPath) {
  auto cfg = load_kubeconfig(kubeconfig("files.yaml"), "reader");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(fs::path(cfg->token_file), kTestdata / "reader.token");
  EXPECT_TRUE(cfg->token.empty());  // read per request, so a rotation is seen
  TokenFileCache cache(cfg->token_file);
  auto token = cache.get();
  ASSERT_TRUE(token.ok()) << token.error().message;
  EXPECT_EQ(*token, "file-token");
}

TEST(KubeconfigTest, AbsolutePathsAreUsedAsIs) {
  TempDir dir;
  const fs::path path = dir.path() / "config";
  write(path,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: k\n  cluster:\n    server: https://h:6443\n"
        "    certificate-authority: " +
            (kTestdata / "pki/ca.crt").string() +
            "\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
            "users:\n- name: u\n  user:\n    client-certificate: " +
            (kTestdata / "pki/client.crt").string() +
            "\n    client-key: " + (kTestdata / "pki/client.key").string() + "\n");
  auto cfg = load_kubeconfig(path.string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->ca_pem, read(kTestdata / "pki/ca.crt"));
  EXPECT_EQ(cfg->client_key_pem, read(kTestdata / "pki/client.key"));
}

// --- broken kubeconfigs ----------------------------------------------------

TEST(KubeconfigErrorTest, MissingFile) {
  const std::string path = kubeconfig("does-not-exist.yaml");
  expect_invalid(load_kubeconfig(path), path, "", "cannot read file: No such file or directory");
}

TEST(KubeconfigErrorTest, EmptyFile) {
  const std::string path = kubeconfig("broken/empty.yaml");
  expect_invalid(load_kubeconfig(path), path, "", "file is empty");
}

TEST(KubeconfigErrorTest, BadYamlReportsTheLine) {
  const std::string path = kubeconfig("broken/bad-yaml.yaml");
  expect_invalid(load_kubeconfig(path), path, "", "invalid YAML");
  EXPECT_THAT(load_kubeconfig(path).error().message, HasSubstr("line "));
}

TEST(KubeconfigErrorTest, MissingCurrentContext) {
  const std::string path = kubeconfig("broken/no-current-context.yaml");
  expect_invalid(load_kubeconfig(path), path, "current-context", "not set");
}

TEST(KubeconfigErrorTest, UnknownExplicitContext) {
  const std::string path = kubeconfig("inline.yaml");
  expect_invalid(load_kubeconfig(path, "nope"), path, "contexts",
                 "context \"nope\" not found in contexts");
}

TEST(KubeconfigErrorTest, ContextPointsAtMissingCluster) {
  const std::string path = kubeconfig("broken/missing-cluster.yaml");
  expect_invalid(load_kubeconfig(path), path, "contexts[ctx].cluster",
                 "cluster \"ghost\" not found in clusters");
}

TEST(KubeconfigErrorTest, ContextPointsAtMissingUser) {
  const std::string path = kubeconfig("broken/missing-user.yaml");
  expect_invalid(load_kubeconfig(path), path, "contexts[ctx].user",
                 "user \"ghost\" not found in users");
}

TEST(KubeconfigErrorTest, BadBase64) {
  const std::string path = kubeconfig("broken/bad-base64.yaml");
  auto got = load_kubeconfig(path);
  expect_invalid(got, path, "users[admin].client-key-data", "invalid base64");
  EXPECT_EQ(got.error().message,
            "kubeconfig " + path + ": users[admin].client-key-data: invalid base64");
}

TEST(KubeconfigErrorTest, MissingCaFile) {
  const std::string path = kubeconfig("broken/missing-ca-file.yaml");
  expect_invalid(load_kubeconfig(path), path, "clusters[kind].certificate-authority",
                 "cannot read " + (kTestdata / "broken/no-such-ca.crt").string() +
                     ": No such file or directory");
}

TEST(KubeconfigErrorTest, UnreadableCaFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files regardless of their mode";
  TempDir dir;
  fs::copy(kTestdata / "broken/missing-ca-file.yaml", dir.path() / "config");
  write(dir.path() / "no-such-ca.crt", read(kTestdata / "pki/ca.crt"));
  fs::permissions(dir.path() / "no-such-ca.crt", fs::perms::none);
  const std::string path = (dir.path() / "config").string();
  expect_invalid(load_kubeconfig(path), path, "clusters[kind].certificate-authority",
                 "Permission denied");
}

TEST(KubeconfigErrorTest, CaDataIsNotPem) {
  const std::string path = kubeconfig("broken/not-pem-ca.yaml");
  expect_invalid(load_kubeconfig(path), path, "clusters[kind].certificate-authority-data",
                 "no PEM certificate found");
}

TEST(KubeconfigErrorTest, KeyDoesNotMatchCertificate) {
  const std::string path = kubeconfig("broken/mismatched-key.yaml");
  expect_invalid(load_kubeconfig(path), path, "users[admin].client-key-data",
                 "does not match the client certificate");
}

TEST(KubeconfigErrorTest, EmptyServer) {
  const std::string path = kubeconfig("broken/empty-server.yaml");
  expect_invalid(load_kubeconfig(path), path, "clusters[kind].server", "empty");
}

TEST(KubeconfigErrorTest, ExecPluginIsRefusedRatherThanAnonymous) {
  const std::string path = kubeconfig("broken/exec-user.yaml");
  expect_invalid(load_kubeconfig(path), path, "users[gke].exec", "not supported");
}

TEST(KubeconfigErrorTest, WrongTypes) {
  TempDir dir;
  const fs::path path = dir.path() / "config";
  write(path,
        "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://h\n"
        "    insecure-skip-tls-verify: maybe\ncontexts:\n- name: c\n  context: {cluster: k}\n");
  expect_invalid(load_kubeconfig(path.string()), path.string(),
                 "clusters[k].insecure-skip-tls-verify", "must be true or false");

  write(path,
        "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: [a, b]\n"
        "contexts:\n- name: c\n  context: {cluster: k}\n");
  expect_invalid(load_kubeconfig(path.string()), path.string(), "clusters[k].server",
                 "must be a string");

  write(path, "- just\n- a list\n");
  expect_invalid(load_kubeconfig(path.string()), path.string(), "", "not a YAML mapping");
}

// --- in-cluster --------------------------------------------------------------

class InClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write(dir_.path() / "token", "token-one\n");
    write(dir_.path() / "ca.crt", read(kTestdata / "pki/ca.crt"));
    write(dir_.path() / "namespace", "orderguard-system");
  }
  std::map<std::string, std::string> env_ = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                             {"KUBERNETES_SERVICE_PORT", "443"}};
  TempDir dir_;
};

TEST_F(InClusterTest, ReadsServiceAccountFiles) {
  auto cfg = load_in_cluster(env_, dir_.path().string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://10.96.0.1:443");
  EXPECT_EQ(cfg->token_file, (dir_.path() / "token").string());
  EXPECT_TRUE(cfg->token.empty());
  EXPECT_EQ(cfg->ca_pem, read(kTestdata / "pki/ca.crt"));
  EXPECT_EQ(cfg->default_namespace, "orderguard-system");
  EXPECT_EQ(cfg->source, "in-cluster");
}

TEST_F(InClusterTest, BracketsIpv6Hosts) {
  env_["KUBERNETES_SERVICE_HOST"] = "fd00:10:96::1";
  auto cfg = load_in_cluster(env_, dir_.path().string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->server, "https://[fd00:10:96::1]:443");
}

TEST_F(InClusterTest, MissingEnvironment) {
  env_.erase("KUBERNETES_SERVICE_PORT");
  auto cfg = load_in_cluster(env_, dir_.path().string());
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().code, ErrorCode::kInvalid);
  EXPECT_THAT(cfg.error().message, HasSubstr("KUBERNETES_SERVICE_PORT"));
}

TEST_F(InClusterTest, MissingTokenOrCaNamesTheFile) {
  fs::remove(dir_.path() / "ca.crt");
  auto cfg = load_in_cluster(env_, dir_.path().string());
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().message, "in-cluster config: " + (dir_.path() / "ca.crt").string() +
                                     ": cannot read: No such file or directory");
  fs::remove(dir_.path() / "token");
  cfg = load_in_cluster(env_, dir_.path().string());
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.error().message, HasSubstr((dir_.path() / "token").string()));
}

TEST_F(InClusterTest, TokenRotationIsPickedUp) {
  auto cfg = load_in_cluster(env_, dir_.path().string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  TokenFileCache cache(cfg->token_file);
  ASSERT_EQ(cache.get().value_or(""), "token-one");

  // The kubelet swaps in a new file atomically (new inode), like this rename.
  write(dir_.path() / "token.new", "token-two\n");
  fs::rename(dir_.path() / "token.new", dir_.path() / "token");
  EXPECT_EQ(cache.get().value_or(""), "token-two");

  // Rewritten in place with another length: caught by the size even if the
  // mtime tick did not move.
  write(dir_.path() / "token", "token-three-longer");
  EXPECT_EQ(cache.get().value_or(""), "token-three-longer");

  // A vanished file keeps the last good token rather than failing requests.
  fs::remove(dir_.path() / "token");
  EXPECT_EQ(cache.get().value_or(""), "token-three-longer");
}

TEST(TokenFileCacheTest, MissingFileIsUnauthorized) {
  TokenFileCache cache("/nonexistent/orderguard/token");
  auto token = cache.get();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().code, ErrorCode::kUnauthorized);
  EXPECT_THAT(token.error().message, HasSubstr("/nonexistent/orderguard/token"));
}

// --- load_default --------------------------------------------------------------

TEST(LoadDefaultTest, ResolutionOrder) {
  TempDir dir;
  const std::string inline_path = kubeconfig("inline.yaml");
  const std::string files_path = kubeconfig("files.yaml");
  std::map<std::string, std::string> env = {{"KUBECONFIG", ":" + files_path + ":" + inline_path},
                                            {"HOME", dir.path().string()}};

  // An explicit path wins over everything.
  auto cfg = load_default(inline_path, env);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_THAT(cfg->source, HasSubstr(inline_path));

  // Then the first non-empty KUBECONFIG entry.
  cfg = load_default("", env);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_THAT(cfg->source, HasSubstr(files_path));

  // Then in-cluster (which fails here: no service account files).
  env.erase("KUBECONFIG");
  env["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
  env["KUBERNETES_SERVICE_PORT"] = "443";
  cfg = load_default("", env, (dir.path() / "sa").string());
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.error().message, StartsWith("in-cluster config: "));

  // Then ~/.kube/config.
  env.erase("KUBERNETES_SERVICE_HOST");
  fs::create_directories(dir.path() / ".kube");
  fs::copy(inline_path, dir.path() / ".kube/config");
  cfg = load_default("", env);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_THAT(cfg->source, HasSubstr(".kube/config"));

  // And nothing at all.
  fs::remove(dir.path() / ".kube/config");
  cfg = load_default("", env);
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().code, ErrorCode::kInvalid);
  EXPECT_THAT(cfg.error().message, HasSubstr("no Kubernetes configuration"));
}

}  // namespace
}  // namespace orderguard::kube
