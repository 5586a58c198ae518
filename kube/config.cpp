#include "kube/config.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>
#include <utility>

#include "base/base64.h"
#include "base/files.h"
#include "base/log.h"
#include "kube/pki.h"

namespace orderguard::kube {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

// Answers Unexpectedly-encrypted keys with "no password" instead of letting
// OpenSSL prompt on the terminal.
int no_password(char*, int, int, void*) { return 0; }

std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  std::string out;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out;
}

using BioPtr = std::unique_ptr<BIO, int (*)(BIO*)>;
BioPtr memory_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
}

// Checks PEM material at load time so that a bad kubeconfig is reported with
// its file and field, not later as an opaque TLS handshake failure.
std::optional<std::string> check_certificates(const std::string& pem) {
  BioPtr bio = memory_bio(pem);
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, &no_password, nullptr);
  if (cert == nullptr) {
    const std::string why = openssl_reason();
    return "no PEM certificate found" + (why.empty() ? "" : " (" + why + ")");
  }
  X509_free(cert);
  ERR_clear_error();
  return std::nullopt;
}

std::optional<std::string> check_key(const std::string& key_pem, const std::string& cert_pem) {
  BioPtr key_bio = memory_bio(key_pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, &no_password, nullptr);
  if (key == nullptr) {
    const std::string why = openssl_reason();
    return "not a PEM private key (RSA, EC or PKCS#8, unencrypted)" +
           (why.empty() ? "" : " (" + why + ")");
  }
  std::optional<std::string> problem;
  BioPtr cert_bio = memory_bio(cert_pem);
  if (X509* cert = PEM_read_bio_X509(cert_bio.get(), nullptr, &no_password, nullptr)) {
    if (X509_check_private_key(cert, key) != 1) {
      problem = "does not match the client certificate";
    }
    X509_free(cert);
  }
  EVP_PKEY_free(key);
  ERR_clear_error();
  return problem;
}

// Error helper for one kubeconfig file: every message starts with "kubeconfig <path>: ".
class KubeconfigReader {
 public:
  explicit KubeconfigReader(std::string path)
      : path_(std::move(path)), dir_(fs::path(path_).parent_path()) {}

  Error fail(std::string_view field, std::string_view problem) const {
    std::string msg = "kubeconfig " + path_ + ": ";
    if (!field.empty()) msg += std::string(field) + ": ";
    msg += problem;
    return make_error(ErrorCode::kInvalid, std::move(msg));
  }

  // A relative path inside a kubeconfig is relative to the kubeconfig's folder.
  std::string resolve(const std::string& file) const {
    const fs::path p(file);
    if (p.is_absolute() || dir_.empty()) return file;
    return (dir_ / p).string();
  }

  // An optional string field; an error when present but not a scalar.
  Result<std::optional<std::string>> scalar(const YAML::Node& parent, const char* key,
                                            const std::string& field) const {
    const YAML::Node n = parent[key];
    if (!n || n.IsNull()) return std::optional<std::string>();
    if (!n.IsScalar()) return fail(field, "must be a string");
    return std::optional<std::string>(n.Scalar());
  }

  Result<bool> boolean(const YAML::Node& parent, const char* key, const std::string& field) const {
    const YAML::Node n = parent[key];
    if (!n || n.IsNull()) return false;
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      return fail(field, "must be true or false");
    }
    return v;
  }

  // Finds `name` in a list of {name: ..., <inner>: {...}} entries (clusters,
  // contexts, users) and returns the inner map.
  Result<YAML::Node> named(const YAML::Node& root, const char* list, const char* inner,
                           const std::string& name, const std::string& referenced_by) const {
    const YAML::Node entries = root[list];
    if (entries && !entries.IsNull() && !entries.IsSequence()) return fail(list, "must be a list");
    if (entries && entries.IsSequence()) {
      for (const YAML::Node& entry : entries) {
        if (!entry.IsMap()) continue;
        const YAML::Node n = entry["name"];
        if (!n || !n.IsScalar() || n.Scalar() != name) continue;
        const YAML::Node body = entry[inner];
        if (!body || body.IsNull()) return YAML::Node(YAML::NodeType::Map);
        if (!body.IsMap()) {
          return fail(std::string(list) + "[" + name + "]." + inner, "must be a mapping");
        }
        return body;
      }
    }
    return fail(referenced_by, std::string(list).substr(0, std::string(list).size() - 1) + " \"" +
                                   name + "\" not found in " + list);
  }

  // Reads `<key>-data` (base64, wins like in client-go) or `<key>` (a file).
  // `*field` names where the content came from, for later error messages.
  Result<std::string> data_or_file(const YAML::Node& parent, const std::string& key,
                                   const std::string& prefix, std::string* field) const {
    const std::string data_field = prefix + "." + key + "-data";
    auto data = scalar(parent, (key + "-data").c_str(), data_field);
    if (!data.ok()) return data.error();
    if (data->has_value() && !(*data)->empty()) {
      auto decoded = base64_decode(**data, /*padding_optional=*/true);
      if (!decoded.ok()) return fail(data_field, "invalid base64");
      if (decoded->empty()) return fail(data_field, "empty");
      *field = data_field;
      return std::move(*decoded);
    }
    const std::string file_field = prefix + "." + key;
    auto file = scalar(parent, key.c_str(), file_field);
    if (!file.ok()) return file.error();
    if (!file->has_value() || (*file)->empty()) return std::string();
    const std::string resolved = resolve(**file);
    auto content = read_file(resolved);
    if (!content.ok())
      return fail(file_field, "cannot read " + resolved + ": " + content.error().message);
    if (content->empty()) return fail(file_field, resolved + " is empty");
    *field = file_field;
    return std::move(*content);
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  fs::path dir_;
};

Result<Config> parse_kubeconfig(const KubeconfigReader& r, const YAML::Node& root,
                                const std::string& wanted_context) {
  if (!root || root.IsNull()) return r.fail("", "file is empty");
  if (!root.IsMap()) return r.fail("", "not a YAML mapping");

  std::string context_name = wanted_context;
  if (context_name.empty()) {
    auto current = r.scalar(root, "current-context", "current-context");
    if (!current.ok()) return current.error();
    if (!current->has_value() || (*current)->empty()) {
      return r.fail("current-context", "not set and no context was given");
    }
    context_name = **current;
  }
  const std::string context_ref = wanted_context.empty() ? "current-context" : "contexts";
  auto context = r.named(root, "contexts", "context", context_name, context_ref);
  if (!context.ok()) return context.error();

  const std::string ctx_field = "contexts[" + context_name + "]";
  auto cluster_name = r.scalar(*context, "cluster", ctx_field + ".cluster");
  if (!cluster_name.ok()) return cluster_name.error();
  if (!cluster_name->has_value() || (*cluster_name)->empty()) {
    return r.fail(ctx_field + ".cluster", "not set");
  }
  auto user_name = r.scalar(*context, "user", ctx_field + ".user");
  if (!user_name.ok()) return user_name.error();
  auto ns = r.scalar(*context, "namespace", ctx_field + ".namespace");
  if (!ns.ok()) return ns.error();

  Config cfg;
  cfg.source = "kubeconfig " + r.path() + " context " + context_name;
  cfg.default_namespace = ns->value_or("");

  // Cluster.
  auto cluster = r.named(root, "clusters", "cluster", **cluster_name, ctx_field + ".cluster");
  if (!cluster.ok()) return cluster.error();
  const std::string cl = "clusters[" + **cluster_name + "]";
  auto server = r.scalar(*cluster, "server", cl + ".server");
  if (!server.ok()) return server.error();
  cfg.server = trim(server->value_or(""));
  if (cfg.server.empty()) return r.fail(cl + ".server", "empty");
  if (cfg.server.find("://") == std::string::npos) cfg.server = "https://" + cfg.server;
  while (cfg.server.size() > 1 && cfg.server.back() == '/') cfg.server.pop_back();
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0) {
    return r.fail(cl + ".server", "scheme must be https or http: " + cfg.server);
  }

  auto tls_name = r.scalar(*cluster, "tls-server-name", cl + ".tls-server-name");
  if (!tls_name.ok()) return tls_name.error();
  cfg.tls_server_name = tls_name->value_or("");
  auto insecure = r.boolean(*cluster, "insecure-skip-tls-verify", cl + ".insecure-skip-tls-verify");
  if (!insecure.ok()) return insecure.error();
  cfg.insecure_skip_tls_verify = *insecure;
  std::string ca_field;
  auto ca = r.data_or_file(*cluster, "certificate-authority", cl, &ca_field);
  if (!ca.ok()) return ca.error();
  cfg.ca_pem = std::move(*ca);
  if (!cfg.ca_pem.empty()) {
    if (auto problem = check_certificates(cfg.ca_pem)) return r.fail(ca_field, *problem);
  }

  // User. A context without a user is anonymous access (rare but legal).
  if (user_name->has_value() && !(*user_name)->empty()) {
    auto user = r.named(root, "users", "user", **user_name, ctx_field + ".user");
    if (!user.ok()) return user.error();
    const std::string us = "users[" + **user_name + "]";

    std::string cert_field;
    std::string key_field;
    auto cert = r.data_or_file(*user, "client-certificate", us, &cert_field);
    if (!cert.ok()) return cert.error();
    auto key = r.data_or_file(*user, "client-key", us, &key_field);
    if (!key.ok()) return key.error();
    cfg.client_cert_pem = std::move(*cert);
    cfg.client_key_pem = std::move(*key);
    if (cfg.client_cert_pem.empty() != cfg.client_key_pem.empty()) {
      return r.fail(us, cfg.client_cert_pem.empty()
                            ? "client-key given without client-certificate"
                            : "client-certificate given without client-key");
    }
    if (!cfg.client_cert_pem.empty()) {
      if (auto problem = check_certificates(cfg.client_cert_pem)) {
        return r.fail(cert_field, *problem);
      }
      if (auto problem = check_key(cfg.client_key_pem, cfg.client_cert_pem)) {
        return r.fail(key_field, *problem);
      }
    }

    auto token = r.scalar(*user, "token", us + ".token");
    if (!token.ok()) return token.error();
    cfg.token = trim(token->value_or(""));
    auto token_file = r.scalar(*user, "tokenFile", us + ".tokenFile");
    if (!token_file.ok()) return token_file.error();
    if (token_file->has_value() && !(*token_file)->empty()) {
      cfg.token_file = r.resolve(**token_file);
      auto content = read_file(cfg.token_file);
      if (!content.ok()) {
        return r.fail(us + ".tokenFile",
                      "cannot read " + cfg.token_file + ": " + content.error().message);
      }
    }

    const bool has_credentials =
        !cfg.client_cert_pem.empty() || !cfg.token.empty() || !cfg.token_file.empty();
    if (!has_credentials) {
      // Failing here beats silently talking to the API server as system:anonymous.
      for (const char* unsupported : {"exec", "auth-provider", "username"}) {
        const YAML::Node& user_node = *user;
        const YAML::Node n = user_node[unsupported];
        if (n && !n.IsNull()) {
          return r.fail(us + "." + unsupported,
                        "not supported; use a token, tokenFile or client certificate");
        }
      }
    }
  }
  return cfg;
}

std::string env_value(const std::map<std::string, std::string>& env, const std::string& key) {
  const auto it = env.find(key);
  return it == env.end() ? std::string() : it->second;
}

}  // namespace

Result<Config> load_kubeconfig(const std::string& path, const std::string& context) {
  KubeconfigReader reader(path);
  auto content = read_file(path);
  if (!content.ok()) return reader.fail("", "cannot read file: " + content.error().message);
  try {
    const YAML::Node root = YAML::Load(*content);
    return parse_kubeconfig(reader, root, context);
  } catch (const YAML::Exception& e) {
    // ParserException carries the line and column in what().
    return reader.fail("", std::string("invalid YAML: ") + e.what());
  } catch (const std::exception& e) {
    return reader.fail("", std::string("unexpected error: ") + e.what());
  }
}

Result<Config> load_in_cluster(const std::map<std::string, std::string>& env,
                               const std::string& sa_dir) {
  const auto fail = [](std::string problem) {
    return make_error(ErrorCode::kInvalid, "in-cluster config: " + std::move(problem));
  };
  std::string host = trim(env_value(env, "KUBERNETES_SERVICE_HOST"));
  const std::string port = trim(env_value(env, "KUBERNETES_SERVICE_PORT"));
  if (host.empty() || port.empty()) {
    return fail("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not in a pod?)");
  }
  // An IPv6 service address must be bracketed inside a URL.
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";

  Config cfg;
  cfg.server = "https://" + host + ":" + port;
  cfg.source = "in-cluster";

  cfg.token_file = (fs::path(sa_dir) / "token").string();
  auto token = read_file(cfg.token_file);
  if (!token.ok()) return fail(cfg.token_file + ": cannot read: " + token.error().message);
  if (trim(*token).empty()) return fail(cfg.token_file + ": empty");

  const std::string ca_file = (fs::path(sa_dir) / "ca.crt").string();
  auto ca = read_file(ca_file);
  if (!ca.ok()) return fail(ca_file + ": cannot read: " + ca.error().message);
  if (auto problem = check_certificates(*ca)) return fail(ca_file + ": " + *problem);
  cfg.ca_pem = std::move(*ca);

  // The namespace file is informative only: missing is not an error.
  auto ns = read_file((fs::path(sa_dir) / "namespace").string());
  if (ns.ok()) cfg.default_namespace = trim(*ns);
  return cfg;
}

Result<Config> load_default(const std::string& explicit_path,
                            const std::map<std::string, std::string>& env,
                            const std::string& sa_dir) {
  if (!explicit_path.empty()) return load_kubeconfig(explicit_path);

  const std::string kubeconfig_env = env_value(env, "KUBECONFIG");
  size_t start = 0;
  while (start <= kubeconfig_env.size()) {
    size_t end = kubeconfig_env.find(':', start);
    if (end == std::string::npos) end = kubeconfig_env.size();
    const std::string entry = trim(std::string_view(kubeconfig_env).substr(start, end - start));
    if (!entry.empty()) return load_kubeconfig(entry);
    start = end + 1;
  }

  if (!env_value(env, "KUBERNETES_SERVICE_HOST").empty()) return load_in_cluster(env, sa_dir);

  const std::string home = env_value(env, "HOME");
  if (!home.empty()) {
    const std::string path = (fs::path(home) / ".kube" / "config").string();
    std::error_code ec;
    if (fs::exists(path, ec)) return load_kubeconfig(path);
  }
  return make_error(ErrorCode::kInvalid,
                    "no Kubernetes configuration: pass a kubeconfig path, set KUBECONFIG, run in "
                    "a pod, or create ~/.kube/config");
}

Result<Config> load_default(const std::string& explicit_path) {
  std::map<std::string, std::string> env;
  for (const char* key :
       {"KUBECONFIG", "HOME", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}) {
    if (const char* v = std::getenv(key)) env[key] = v;
  }
  return load_default(explicit_path, env);
}

Result<std::string> TokenFileCache::get() {
  std::lock_guard<std::mutex> lock(mu_);
  auto identity = file_identity(path_);
  if (!identity.ok()) {
    const std::string why = identity.error().message;
    if (stamp_) {
      log::error("cannot stat token file, using the cached token",
                 {{"file", path_}, {"error", why}});
      return token_;
    }
    return make_error(ErrorCode::kUnauthorized,
                      "bearer token file " + path_ + ": cannot read: " + why);
  }
  const FileIdentity stamp = *identity;
  if (stamp_ && *stamp_ == stamp) return token_;

  auto content = read_file(path_);
  std::string token = content.ok() ? trim(*content) : std::string();
  if (token.empty()) {
    // A rotation caught half-written, or a removed file: keep the old token.
    const std::string why = content.ok() ? "empty" : content.error().message;
    if (stamp_) {
      log::error("cannot read token file, using the cached token",
                 {{"file", path_}, {"error", why}});
      return token_;
    }
    return make_error(ErrorCode::kUnauthorized, "bearer token file " + path_ + ": " + why);
  }
  if (stamp_) log::info("bearer token file changed, token reloaded", {{"file", path_}});
  stamp_ = stamp;
  token_ = std::move(token);
  return token_;
}

}  // namespace orderguard::kube
