// How to reach and authenticate to a kube-apiserver: from a kubeconfig file or
// from inside a pod. Loading never throws; a bad or missing file yields an Error
// whose message names the file and the field.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/files.h"
#include "base/result.h"

namespace orderguard::kube {

struct Config {
  std::string server;  // "https://127.0.0.1:6443"
  std::string tls_server_name;
  std::string ca_pem;  // trusted CA bundle; when set it is the ONLY trust anchor
  bool insecure_skip_tls_verify = false;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;  // static bearer token
  // Bearer token file, re-read when it changes (projected tokens rotate). Its
  // content wins over `token` when both are set, as in client-go.
  std::string token_file;
  // Client-side rate limit; qps <= 0 disables it (API Priority and Fairness still applies).
  double qps = 20;
  int burst = 30;
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  std::string user_agent = "orderguard";
  // The context's namespace (kubeconfig) or the pod's namespace (in-cluster); "" when unknown.
  std::string default_namespace;
  // For messages: "kubeconfig /root/.kube/config context kind-admin" or "in-cluster".
  std::string source;
};

// Loads a kubeconfig. An empty context means the file's current-context.
// Relative file paths inside the kubeconfig resolve against the file's folder.
Result<Config> load_kubeconfig(const std::string& path, const std::string& context = "");

// Loads the in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT from `env`
// and token, ca.crt and namespace from `sa_dir`.
Result<Config> load_in_cluster(
    const std::map<std::string, std::string>& env,
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// The usual resolution order of client tools: an explicit path, then $KUBECONFIG
// (first entry), then in-cluster, then ~/.kube/config.
Result<Config> load_default(const std::string& explicit_path);
// The same with the environment given explicitly (KUBECONFIG, HOME,
// KUBERNETES_SERVICE_HOST/PORT), so the resolution order is testable.
Result<Config> load_default(
    const std::string& explicit_path, const std::map<std::string, std::string>& env,
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// A bearer token kept in a file, cached and re-read when the file changes. The
// kubelet rotates projected service-account tokens by swapping a symlink, so the
// file's identity (device, inode, size, mtime) is compared on every call: one
// stat() per request, one read per rotation. Thread-safe.
class TokenFileCache {
 public:
  explicit TokenFileCache(std::string path) : path_(std::move(path)) {}

  // The current token, surrounding whitespace trimmed. When the file cannot be
  // read but a token was read before, the old token is returned (it usually
  // stays valid for a while) and the failure is logged.
  Result<std::string> get();
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  std::mutex mu_;
  std::optional<FileIdentity> stamp_;  // of the file the cached token came from
  std::string token_;
};

}  // namespace orderguard::kube
