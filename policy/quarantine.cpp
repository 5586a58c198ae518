#include "policy/quarantine.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <limits>

#include "base/field_reader.h"
#include "policy/workload.h"

namespace orderguard::policy {
namespace {

using nlohmann::json;
using Problems = std::vector<std::pair<std::string, std::string>>;

constexpr size_t kMaxNameBytes = 253;
constexpr size_t kHashHexChars = 32;  // 128 bits: no collision can be searched for

// A bare digest ("sha256:..") or an image reference.
Status parse_image(const std::string& image, QuarantineEntry* entry) {
  size_t colon = image.find(':');
  if (colon != std::string::npos && image.find('/') == std::string::npos &&
      image.find('@') == std::string::npos && colon >= 6 && image.compare(0, 3, "sha") == 0) {
    Status s = validate_digest(image);
    if (!s.ok()) return s;
    entry->digest = image;
    return {};
  }
  Result<ImageRef> ref = parse_image_ref(image);
  if (!ref.ok()) return ref.error();
  entry->digest = ref->digest;
  entry->image_ref = std::move(ref).value();
  return {};
}

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// RFC 1123 label: what a namespace name is.
bool dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63 || !lower_alnum(s.front()) || !lower_alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return lower_alnum(c) || c == '-'; });
}

// A DNS subdomain as Kubernetes checks object names (IsDNS1123Subdomain): labels of lowercase
// alphanumerics and '-' that start and end alphanumeric, 253 bytes in all, and no limit on one
// label (so "image.sha256-<64 hex>" is a name).
bool dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || !lower_alnum(label.front()) || !lower_alnum(label.back()) ||
        !std::all_of(label.begin(), label.end(),
                     [](char c) { return lower_alnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string sha256_prefix(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    // OpenSSL without SHA-256 cannot run the webhook's TLS either.
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len && out.size() < kHashHexChars; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace

std::string_view to_string(QuarantineScope scope) {
  switch (scope) {
    case QuarantineScope::kWorkload:
      return "Workload";
    case QuarantineScope::kImage:
      return "Image";
  }
  return "Unknown";
}

bool QuarantineEntry::matches_image(const ImageRef& ref) const {
  if (!digest.empty() && ref.digest == digest) return true;
  if (!image_ref) return false;
  if (ref.name() != image_ref->name()) return false;
  if (!image_ref->tag.empty()) return ref.tag == image_ref->tag;
  // A name with only a digest matched above by digest; a plain name blocks every tag.
  return image_ref->digest.empty();
}

Problems compile_quarantine_spec(const api::QuarantineSpec& spec, const std::string& path,
                                 QuarantineEntry* entry) {
  Problems problems;
  if (spec.scope.empty() || spec.scope == "Workload") {
    entry->scope = QuarantineScope::kWorkload;
  } else if (spec.scope == "Image") {
    entry->scope = QuarantineScope::kImage;
  } else {
    problems.emplace_back(path + ".scope", "must be Workload or Image");
    return problems;
  }
  entry->image = spec.image;
  entry->namespace_name = spec.namespace_name;
  entry->reason = spec.reason;
  entry->time = spec.time;
  entry->node_name = spec.node_name;
  entry->created_by = spec.created_by;
  entry->workload.kind = spec.workload.kind;
  entry->workload.name = spec.workload.name;
  if (!spec.expires_at.empty()) {
    entry->expires_at = parse_rfc3339(spec.expires_at);
    if (!entry->expires_at) {
      problems.emplace_back(path + ".expiresAt", "must be an RFC 3339 date-time");
    }
  }
  if (!entry->image.empty()) {
    if (Status s = parse_image(entry->image, entry); !s.ok()) {
      problems.emplace_back(path + ".image", s.error().message);
    }
  }
  if (entry->scope == QuarantineScope::kImage && entry->image.empty()) {
    problems.emplace_back(path + ".image", "required for scope Image");
  }
  if (entry->scope == QuarantineScope::kWorkload) {
    if (entry->namespace_name.empty()) {
      problems.emplace_back(path + ".namespace", "required for scope Workload");
    }
    if (entry->workload.name.empty()) {
      problems.emplace_back(path + ".workload.name", "required for scope Workload");
    }
    if (entry->workload.kind != "Pod" && !has_pod_spec(entry->workload.kind)) {
      problems.emplace_back(path + ".workload.kind",
                            "must be a kind with a pod template (Deployment, StatefulSet, "
                            "DaemonSet, ReplicaSet, ReplicationController, Job, CronJob) or Pod");
    }
  }
  return problems;
}

Result<QuarantineEntry> compile_quarantine(JsonRef object) {
  const std::string object_name(object.find("metadata").string_member("name"));
  QuarantineEntry entry;
  entry.field_path = "Quarantine " + object_name;
  std::vector<std::string> problems;
  const JsonRef spec = object.find("spec");
  if (!spec.is_object()) {
    problems.emplace_back("spec: required");
  } else {
    const api::QuarantineSpec decoded = api::decode_quarantine(spec, &problems);
    // A field refused for its shape is not judged again for its value.
    const ProblemPaths shape(problems);
    for (auto& [where, message] : compile_quarantine_spec(decoded, "spec", &entry)) {
      if (!shape.covers(where)) problems.push_back(where + ": " + message);
    }
  }
  if (problems.empty()) return entry;
  std::string message = "Quarantine";
  if (!object_name.empty()) message += " \"" + object_name + "\"";
  message += " is invalid: ";
  for (size_t i = 0; i < problems.size(); ++i) message += (i > 0 ? "; " : "") + problems[i];
  return make_error(ErrorCode::kInvalid, message);
}

std::string quarantine_name(const QuarantineEntry& entry) {
  if (entry.scope == QuarantineScope::kImage) {
    const std::string& d = entry.digest;
    const size_t colon = d.find(':');
    if (colon != std::string::npos) {
      std::string readable = "image." + d.substr(0, colon) + "-" + d.substr(colon + 1);
      if (dns_subdomain(readable)) return readable;
    }
    return "image.h-" + sha256_prefix("image\n" + entry.image);
  }
  std::string kind = entry.workload.kind;
  std::transform(kind.begin(), kind.end(), kind.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  // Only the kinds a quarantine can name are lowercased into a name: "deployment" as written
  // would otherwise give Deployment's name.
  const bool kind_ok = entry.workload.kind == "Pod" || has_pod_spec(entry.workload.kind);
  const std::string& ns = entry.namespace_name;
  const std::string& name = entry.workload.name;
  const std::string hash =
      sha256_prefix("workload\n" + entry.workload.kind + "\n" + ns + "\n" + name);
  if (!kind_ok || !dns_label(ns)) return "workload.h-" + hash;
  std::string readable = kind + "." + ns + "." + name;
  if (!name.starts_with("h-") && dns_subdomain(name) && readable.size() <= kMaxNameBytes) {
    return readable;
  }
  return kind + "." + ns + ".h-" + hash;
}

json to_quarantine_object(const QuarantineEntry& entry) {
  json spec = {{"scope", std::string(to_string(entry.scope))}};
  if (!entry.namespace_name.empty()) spec["namespace"] = entry.namespace_name;
  if (entry.scope == QuarantineScope::kWorkload) {
    spec["workload"] = {{"kind", entry.workload.kind}, {"name", entry.workload.name}};
  }
  if (!entry.image.empty()) spec["image"] = entry.image;
  if (!entry.reason.empty()) spec["reason"] = entry.reason;
  if (!entry.node_name.empty()) spec["nodeName"] = entry.node_name;
  if (!entry.created_by.empty()) spec["createdBy"] = entry.created_by;
  if (entry.expires_at) spec["expiresAt"] = format_rfc3339(*entry.expires_at);
  return {{"apiVersion", std::string(kQuarantineApiVersion)},
          {"kind", std::string(kQuarantineKind)},
          {"metadata", {{"name", quarantine_name(entry)}}},
          {"spec", std::move(spec)}};
}

json to_json(const QuarantineEntry& entry) {
  json j = {{"scope", std::string(to_string(entry.scope))}};
  if (!entry.image.empty()) j["image"] = entry.image;
  if (!entry.namespace_name.empty()) j["namespace"] = entry.namespace_name;
  if (!entry.workload.kind.empty() || !entry.workload.name.empty()) {
    j["workload"] = {{"kind", entry.workload.kind}, {"name", entry.workload.name}};
  }
  if (!entry.reason.empty()) j["reason"] = entry.reason;
  if (!entry.time.empty()) j["time"] = entry.time;
  return j;
}

size_t QuarantineSet::size() const {
  size_t n = images.size();
  for (const auto& [ns, list] : workloads) n += list.size();
  return n;
}

const std::vector<QuarantineEntry>& QuarantineSet::workloads_in(std::string_view ns) const {
  static const std::vector<QuarantineEntry> kNone;
  auto it = workloads.find(ns);
  return it == workloads.end() ? kNone : it->second;
}

QuarantineSet index_quarantines(std::vector<QuarantineEntry> entries) {
  QuarantineSet set;
  for (QuarantineEntry& e : entries) {
    if (e.scope == QuarantineScope::kImage) {
      set.images.push_back(std::move(e));
    } else {
      std::string ns = e.namespace_name;
      set.workloads[ns].push_back(std::move(e));
    }
  }
  return set;
}

}  // namespace orderguard::policy
