#include "policy/quarantine.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <limits>

#include "policy/workload.h"

namespace orderguard::policy {
namespace {

using nlohmann::json;
using Problems = std::vector<std::pair<std::string, std::string>>;

constexpr size_t kMaxNameBytes = 253;
constexpr size_t kHashHexChars = 32;  // 128 bits: no collision can be searched for

// Member `key` of `object`; invalid when absent, null, or `object` is not an object (a null
// field is an absent one, as the API server's defaulting treats it).
JsonRef member(JsonRef object, std::string_view key) {
  JsonRef v = object.find(key);
  return v.is_null() ? JsonRef() : v;
}

std::string string_field(JsonRef object, std::string_view key, const std::string& path,
                         Problems* problems) {
  const JsonRef v = member(object, key);
  if (!v.valid()) return "";
  if (!v.is_string()) {
    problems->emplace_back(path, "must be a string");
    return "";
  }
  return std::string(v.string());
}

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

Problems read_quarantine_fields(JsonRef fields, const std::string& path, QuarantineEntry* entry) {
  Problems problems;
  const std::string scope = string_field(fields, "scope", path + ".scope", &problems);
  if (scope.empty() || scope == "Workload") {
    entry->scope = QuarantineScope::kWorkload;
  } else if (scope == "Image") {
    entry->scope = QuarantineScope::kImage;
  } else {
    problems.emplace_back(path + ".scope", "must be Workload or Image");
    return problems;
  }
  entry->image = string_field(fields, "image", path + ".image", &problems);
  entry->namespace_name = string_field(fields, "namespace", path + ".namespace", &problems);
  entry->reason = string_field(fields, "reason", path + ".reason", &problems);
  entry->time = string_field(fields, "time", path + ".time", &problems);
  entry->node_name = string_field(fields, "nodeName", path + ".nodeName", &problems);
  entry->created_by = string_field(fields, "createdBy", path + ".createdBy", &problems);
  if (const JsonRef w = member(fields, "workload"); w.valid()) {
    if (!w.is_object()) {
      problems.emplace_back(path + ".workload", "must be an object");
    } else {
      entry->workload.kind = string_field(w, "kind", path + ".workload.kind", &problems);
      entry->workload.name = string_field(w, "name", path + ".workload.name", &problems);
    }
  }
  const std::string expires = string_field(fields, "expiresAt", path + ".expiresAt", &problems);
  if (!expires.empty()) {
    entry->expires_at = parse_rfc3339(expires);
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
  const std::string object_name(member(object, "metadata").string_member("name"));
  QuarantineEntry entry;
  entry.field_path = "Quarantine " + object_name;
  Problems problems;
  const JsonRef spec = member(object, "spec");
  if (!spec.is_object()) {
    problems.emplace_back("spec", "required");
  } else {
    problems = read_quarantine_fields(spec, "spec", &entry);
  }
  if (problems.empty()) return entry;
  std::string message = "Quarantine";
  if (!object_name.empty()) message += " \"" + object_name + "\"";
  message += " is invalid: ";
  for (size_t i = 0; i < problems.size(); ++i) {
    message += (i > 0 ? "; " : "") + problems[i].first + ": " + problems[i].second;
  }
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
