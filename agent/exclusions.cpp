#include "agent/exclusions.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "agent/scanner.h"
#include "base/lines.h"

namespace orderguard::agent {
namespace {

bool is_hex64(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string str(const nlohmann::json& j, std::string_view key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::map<std::string, std::string> pod_labels(const nlohmann::json& pod) {
  std::map<std::string, std::string> out;
  if (!pod.is_object()) return out;
  auto meta = pod.find("metadata");
  if (meta == pod.end() || !meta->is_object()) return out;
  auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return out;
  for (const auto& [k, v] : labels->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

const nlohmann::json* find_pod(const nlohmann::json& pods, const PodMatch& match) {
  const nlohmann::json* list = &pods;
  if (pods.is_object() && pods.contains("items")) list = &pods["items"];
  if (!list->is_array()) return nullptr;
  for (const nlohmann::json& p : *list) {
    const nlohmann::json meta =
        p.is_object() ? p.value("metadata", nlohmann::json::object()) : nlohmann::json::object();
    if (str(meta, "namespace") == match.namespace_name && str(meta, "name") == match.name) {
      return &p;
    }
  }
  return nullptr;
}

}  // namespace

std::string ExclusionRule::describe() const { return kind + " " + value + " (" + source + ")"; }

Result<std::string> sha256_hex(int fd) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return make_error(ErrorCode::kInternal, "SHA-256 unavailable");
  }
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(ErrorCode::kInternal, std::string("read: ") + strerror(errno));
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::map<std::string, std::string> parse_sha256sums(std::string_view text,
                                                    std::vector<size_t>* bad_lines) {
  std::map<std::string, std::string> out;
  size_t number = 0;
  TextLines lines(text);
  for (std::string_view line; lines.next(&line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    // "<hex>  <name>" (text mode) or "<hex> *<name>" (binary mode).
    if (line.size() > 66 && is_hex64(line.substr(0, 64)) && line[64] == ' ' &&
        (line[65] == ' ' || line[65] == '*')) {
      out[lower(line.substr(0, 64))] = std::string(line.substr(66));
    } else if (bad_lines) {
      bad_lines->push_back(number);
    }
  }
  return out;
}

TrustedBinaries load_trusted_binaries(const std::string& file, bool self) {
  TrustedBinaries out;
  if (self) {
    int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    Result<std::string> digest =
        fd < 0 ? Result<std::string>(make_error(ErrorCode::kNotFound, strerror(errno)))
               : sha256_hex(fd);
    if (fd >= 0) ::close(fd);
    if (digest) {
      out.digests[*digest] = "this agent";
      out.notes.push_back("this agent's binary: sha256:" + *digest);
    } else {
      out.notes.push_back("this agent's binary could not be hashed: " + digest.error().message);
    }
  }
  if (file.empty()) return out;
  Result<std::string> text = HostView::read_file(file, kMaxTrustedBinariesBytes);
  if (!text) {
    out.notes.push_back(
        file + ": " + text.error().message +
        (self ? "; only this agent's own binary is trusted" : "; no orderguard binary is trusted"));
    return out;
  }
  std::vector<size_t> bad;
  std::map<std::string, std::string> digests = parse_sha256sums(*text, &bad);
  for (auto& [digest, name] : digests) out.digests.emplace(digest, file);
  std::string note = file + ": " + std::to_string(digests.size()) + " digests";
  if (!bad.empty()) {
    note += ", " + std::to_string(bad.size()) + " lines ignored (first: line " +
            std::to_string(bad.front()) + ")";
  }
  out.notes.push_back(note);
  return out;
}

Result<policy::LabelSelector> parse_pod_label(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || text.find('=', eq + 1) != std::string_view::npos) {
    return make_error(ErrorCode::kInvalid, "want key=value: " + std::string(text));
  }
  policy::LabelSelector s;
  s.match_labels[std::string(text.substr(0, eq))] = std::string(text.substr(eq + 1));
  return s;
}

std::string selector_text(const policy::LabelSelector& selector) {
  std::string out;
  auto add = [&](const std::string& part) {
    if (!out.empty()) out += ",";
    out += part;
  };
  for (const auto& [k, v] : selector.match_labels) add(k + "=" + v);
  for (const policy::LabelRequirement& r : selector.match_expressions) {
    std::string values;
    for (const std::string& v : r.values) values += (values.empty() ? "" : ",") + v;
    switch (r.op) {
      case policy::LabelRequirement::Operator::kIn:
        add(r.key + " in (" + values + ")");
        break;
      case policy::LabelRequirement::Operator::kNotIn:
        add(r.key + " notin (" + values + ")");
        break;
      case policy::LabelRequirement::Operator::kExists:
        add(r.key);
        break;
      case policy::LabelRequirement::Operator::kDoesNotExist:
        add("!" + r.key);
        break;
    }
  }
  return out;
}

Result<ExclusionConfig> exclusions_from_flags(const ExclusionFlags& flags) {
  ExclusionConfig config;
  for (const std::string& g : flags.executables) {
    Result<policy::ExeGlob> glob = policy::ExeGlob::compile(g);
    if (!glob) return make_error(ErrorCode::kInvalid, "--exclude-exe: " + glob.error().message);
    config.executables.push_back({std::move(glob).value(), "--exclude-exe"});
  }
  for (const std::string& ns : flags.namespaces) {
    if (!policy::plausible_namespace_name(ns)) {
      return make_error(ErrorCode::kInvalid, "--exclude-namespace: not a namespace name: " + ns);
    }
    config.namespaces.emplace(ns, "--exclude-namespace");
  }
  for (const std::string& l : flags.pod_labels) {
    Result<policy::LabelSelector> s = parse_pod_label(l);
    if (!s) return make_error(ErrorCode::kInvalid, "--exclude-pod-label: " + s.error().message);
    config.pod_selectors.push_back({*s, selector_text(*s), "--exclude-pod-label"});
  }
  config.trusted = std::make_shared<const TrustedBinaries>(
      load_trusted_binaries(flags.trusted_binaries, /*self=*/true));
  return config;
}

void ExclusionConfig::add_policies(const policy::PolicySet& policies) {
  for (const policy::CompiledPolicy& p : policies.policies) {
    const std::string source = "MinerPolicy " + p.name;
    for (const auto& e : p.agent_exclusions.executables) {
      executables.push_back({e.glob, source + " " + e.field_path});
    }
    for (const auto& [ns, path] : p.agent_exclusions.namespaces) {
      namespaces.emplace(ns, source + " " + path);
    }
    if (p.agent_exclusions.pod_selector) {
      pod_selectors.push_back({*p.agent_exclusions.pod_selector,
                               selector_text(*p.agent_exclusions.pod_selector),
                               source + " spec.agent.exclusions.podSelector"});
    }
  }
}

std::vector<ExclusionRule> ExclusionConfig::rules() const {
  std::vector<ExclusionRule> out;
  if (trusted) {
    for (const auto& [digest, from] : trusted->digests) {
      out.push_back({"orderguard-binary", "sha256:" + digest, from});
    }
  }
  for (const Executable& e : executables) out.push_back({"executable", e.glob.pattern(), e.source});
  for (const auto& [ns, source] : namespaces) out.push_back({"namespace", ns, source});
  for (const PodSelector& s : pod_selectors) out.push_back({"pod-selector", s.text, s.source});
  return out;
}

std::optional<std::string> ExeDigestCache::digest(const std::string& exe_link) {
  // open + fstat: the key and the bytes hashed are those of the same file, even if the link
  // target is replaced meanwhile.
  int fd = ::open(exe_link.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::optional<std::string> out;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kMaxHashedExeBytes) {
    Key key{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
            static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec),
            static_cast<int64_t>(st.st_mtim.tv_nsec)};
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      it->second.used = true;
      out = it->second.digest;
    } else if (Result<std::string> d = sha256_hex(fd); d) {
      ++files_hashed_;
      entries_[key] = {*d, true};
      out = *d;
    }
  }
  ::close(fd);
  return out;
}

void ExeDigestCache::sweep() {
  std::erase_if(entries_, [](const auto& e) { return !e.second.used; });
  for (auto& [key, e] : entries_) e.used = false;
}

std::optional<ExclusionRule> binary_exclusion(const ExclusionConfig& config, ExeDigestCache* cache,
                                              const std::string& exe_link, const std::string& exe,
                                              bool in_container) {
  if (config.trusted && !config.trusted->digests.empty()) {
    if (std::optional<std::string> d = cache->digest(exe_link)) {
      auto it = config.trusted->digests.find(*d);
      if (it != config.trusted->digests.end()) {
        return ExclusionRule{"orderguard-binary", "sha256:" + *d, it->second};
      }
    }
  }
  if (!in_container && !exe.empty()) {
    for (const ExclusionConfig::Executable& e : config.executables) {
      if (e.glob.matches(exe)) return ExclusionRule{"executable", e.glob.pattern(), e.source};
    }
  }
  return std::nullopt;
}

std::optional<ExclusionRule> pod_exclusion(const ExclusionConfig& config,
                                           const nlohmann::json& pod) {
  const nlohmann::json meta =
      pod.is_object() ? pod.value("metadata", nlohmann::json::object()) : nlohmann::json::object();
  std::string ns = str(meta, "namespace");
  if (auto it = config.namespaces.find(ns); it != config.namespaces.end()) {
    return ExclusionRule{"namespace", ns, it->second};
  }
  if (!config.pod_selectors.empty()) {
    std::map<std::string, std::string> labels = pod_labels(pod);
    for (const ExclusionConfig::PodSelector& s : config.pod_selectors) {
      if (s.selector.matches(labels)) return ExclusionRule{"pod-selector", s.text, s.source};
    }
  }
  return std::nullopt;
}

void apply_pod_exclusions(const ExclusionConfig& config, const nlohmann::json& pods,
                          ScanReport* report) {
  if (config.namespaces.empty() && config.pod_selectors.empty()) return;
  std::vector<ProcessReport> kept;
  for (ProcessReport& p : report->processes) {
    std::optional<ExclusionRule> rule;
    if (!p.container.empty()) {
      if (std::optional<PodMatch> match = match_pod(pods, p.container)) {
        if (const nlohmann::json* pod = find_pod(pods, *match)) rule = pod_exclusion(config, *pod);
      }
    }
    if (rule) {
      p.excluded_by = std::move(rule);
      report->excluded.push_back(std::move(p));
    } else {
      kept.push_back(std::move(p));
    }
  }
  report->processes = std::move(kept);
}

}  // namespace orderguard::agent
