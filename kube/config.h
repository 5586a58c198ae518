// How to reach and authenticate to a kube-apiserver: from a kubeconfig file or
// from inside a pod. Loading never throws; a bad or missing file yields an Error
// whose message names the file and the field.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "kube/result.h"

namespace orderguard::kube {

struct Config {
  std::string server;  // "https://127.0.0.1:6443"
  std::string tls_server_name;
  std::string ca_pem;  // trusted CA bundle; when set it is the ONLY trust anchor
  bool insecure_skip_tls_verify = false;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;       // static bearer token
  std::string token_file;  // bearer token file, re-read when it changes (projected tokens rotate)
  // Client-side rate limit; qps <= 0 disables it (API Priority and Fairness still applies).
  double qps = 20;
  int burst = 30;
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  std::string user_agent = "orderguard";
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

}  // namespace orderguard::kube
