#include "webhook/policy_report.h"

#include <algorithm>
#include <set>
#include <thread>
#include <tuple>

#include "base/text.h"
#include "policy/quarantine.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

constexpr const char* kApiVersion = "wgpolicyk8s.io/v1alpha2";
constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
constexpr const char* kOmittedAnnotation = "orderguard.io/results-omitted";
constexpr const char* kSource = "orderguard";
constexpr const char* kCategory = "Cryptomining";

std::string str(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& meta_of(const json& object) {
  static const json kEmpty = json::object();
  if (!object.is_object()) return kEmpty;
  auto it = object.find("metadata");
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

// The ObjectReference of a result.
json reference(const json& regarding) {
  json ref = {{"apiVersion", str(regarding, "apiVersion")}, {"kind", str(regarding, "kind")}};
  const json& meta = meta_of(regarding);
  for (const char* key : {"namespace", "name", "uid"}) {
    if (std::string v = str(meta, key); !v.empty()) ref[key] = v;
  }
  return ref;
}

json timestamp(std::chrono::system_clock::time_point now) {
  return {
      {"seconds", std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count()},
      {"nanos", 0}};
}

std::string message(std::string_view text) {
  return truncate_utf8(escape_untrusted(text), kMaxResultMessageBytes);
}

json result(const std::string& policy, const std::string& rule, const std::string& outcome,
            const std::string& text, const json& resource, json properties,
            std::chrono::system_clock::time_point now) {
  json r = {{"policy", policy},
            {"rule", rule},
            {"result", outcome},
            {"severity", "high"},
            {"category", kCategory},
            {"source", kSource},
            {"scored", true},
            {"message", message(text)},
            {"timestamp", timestamp(now)},
            {"resources", json::array({resource})}};
  if (!properties.empty()) r["properties"] = std::move(properties);
  return r;
}

// What identifies a result across passes (everything but its timestamp and message).
std::string result_key(const json& r) {
  const json& resources = r.contains("resources") ? r["resources"] : json::array();
  const json first = resources.is_array() && !resources.empty() ? resources[0] : json::object();
  return str(r, "policy") + '\n' + str(r, "rule") + '\n' + str(r, "result") + '\n' +
         str(first, "uid") + '\n' + str(first, "kind") + '\n' + str(first, "namespace") + '\n' +
         str(first, "name") + '\n' + (r.contains("properties") ? r["properties"].dump() : "");
}

// Sorted by object, then policy, rule and field path, so that two passes that find the same
// build the same report.
auto sort_key(const json& r) {
  const json& first = r["resources"][0];
  const json props = r.value("properties", json::object());
  return std::make_tuple(str(first, "kind"), str(first, "name"), str(first, "uid"),
                         str(r, "policy"), str(r, "rule"), str(props, "fieldPath"),
                         str(props, "container"));
}

json report(const std::string& kind, const std::string& ns, const std::string& name,
            std::vector<json> results) {
  std::sort(results.begin(), results.end(),
            [](const json& a, const json& b) { return sort_key(a) < sort_key(b); });
  int64_t fail = 0, error = 0;
  for (const auto& r : results) (str(r, "result") == "fail" ? fail : error)++;
  json meta = {{"name", name}, {"labels", {{kManagedByLabel, kReportManagedBy}}}};
  if (!ns.empty()) meta["namespace"] = ns;
  if (results.size() > kMaxReportResults) {
    meta["annotations"] = {
        {kOmittedAnnotation, std::to_string(results.size() - kMaxReportResults)}};
    results.resize(kMaxReportResults);
  }
  return {{"apiVersion", kApiVersion},
          {"kind", kind},
          {"metadata", std::move(meta)},
          {"summary", {{"pass", 0}, {"fail", fail}, {"warn", 0}, {"error", error}, {"skip", 0}}},
          {"results", std::move(results)}};
}

}  // namespace

const kube::Resource kPolicyReports{"wgpolicyk8s.io", "v1alpha2", "policyreports", true,
                                    "PolicyReport"};
const kube::Resource kClusterPolicyReports{"wgpolicyk8s.io", "v1alpha2", "clusterpolicyreports",
                                           false, "ClusterPolicyReport"};

std::map<std::string, json> build_policy_reports(const std::vector<ReportedObject>& objects,
                                                 const std::string& report_name,
                                                 std::chrono::system_clock::time_point now) {
  std::map<std::string, std::vector<json>> by_namespace;
  for (const auto& o : objects) {
    const std::string ns = str(meta_of(o.regarding), "namespace");
    if (ns.empty()) continue;  // the audit lists namespaced kinds only
    const json ref = reference(o.regarding);
    auto& results = by_namespace[ns];
    if (o.findings.empty()) {
      results.push_back(
          result(std::string(kSource), "unreadable-object", "error", o.cause, ref, {}, now));
      continue;
    }
    std::set<std::string> seen;
    for (const auto& f : o.findings) {
      // Key and env names can be any printable text the object's author chose.
      json props = json::object();
      if (!f.field_path.empty()) props["fieldPath"] = message(f.field_path);
      if (!f.container.empty()) props["container"] = message(f.container);
      json r = result(f.policy.empty() ? std::string(policy::kQuarantineKind) : f.policy, f.rule_id,
                      "fail", f.message, ref, std::move(props), now);
      if (seen.insert(result_key(r)).second) results.push_back(std::move(r));
    }
  }
  std::map<std::string, json> reports;
  for (auto& [ns, results] : by_namespace) {
    reports[ns] = report("PolicyReport", ns, report_name, std::move(results));
  }
  return reports;
}

json build_cluster_policy_report(const std::vector<InvalidObject>& invalid,
                                 const std::string& report_name,
                                 std::chrono::system_clock::time_point now) {
  if (invalid.empty()) return nullptr;
  std::vector<json> results;
  for (const auto& o : invalid) {
    const std::string name = str(meta_of(o.regarding), "name");
    results.push_back(result(str(o.regarding, "kind") + " " + name, "compile", "error", o.error,
                             reference(o.regarding), {}, now));
  }
  return report("ClusterPolicyReport", "", report_name, std::move(results));
}

json carry_timestamps(json desired, const json& existing) {
  std::map<std::string, json> stamps;
  if (existing.is_object() && existing.contains("results") && existing["results"].is_array()) {
    for (const auto& r : existing["results"]) {
      if (r.is_object() && r.contains("timestamp")) stamps.emplace(result_key(r), r["timestamp"]);
    }
  }
  if (!desired.contains("results")) return desired;
  for (auto& r : desired["results"]) {
    auto it = stamps.find(result_key(r));
    if (it != stamps.end()) r["timestamp"] = it->second;
  }
  return desired;
}

bool report_current(const json& existing, const json& desired) {
  auto field = [](const json& o, const char* key) {
    return o.is_object() && o.contains(key) ? o[key] : json();
  };
  const json& em = meta_of(existing);
  const json& dm = meta_of(desired);
  auto annotation = [](const json& meta) {
    const json a = meta.value("annotations", json::object());
    return a.is_object() ? a.value(kOmittedAnnotation, std::string()) : std::string();
  };
  auto label = [](const json& meta) {
    const json l = meta.value("labels", json::object());
    return l.is_object() ? l.value(kManagedByLabel, std::string()) : std::string();
  };
  return field(existing, "results") == field(desired, "results") &&
         field(existing, "summary") == field(desired, "summary") && label(em) == label(dm) &&
         annotation(em) == annotation(dm);
}

ReportSyncResult sync_reports(kube::Client& client, const kube::Resource& r,
                              const std::string& report_name,
                              const std::map<std::string, json>& desired) {
  ReportSyncResult out;
  kube::ListOptions options;
  options.field_selector = "metadata.name=" + report_name;
  auto listed = client.list_all(r, "", options);
  // A kind created moments ago (the chart installs the CRDs beside the webhook) is answered
  // 429 until the API server's cache of it has started: worth a few seconds, not a pass.
  for (int retry = 0;
       retry < 5 && !listed.ok() && listed.error().code == ErrorCode::kTooManyRequests; ++retry) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    listed = client.list_all(r, "", options);
  }
  if (!listed.ok()) {
    out.errors.push_back(r.plural + ": " + listed.error().describe());
    return out;
  }
  std::map<std::string, json> existing;
  for (auto& item : (*listed)["items"]) {
    // The key first: json's assignment takes its operand by value, and C++17 moves it
    // before the left side is evaluated.
    std::string ns = str(meta_of(item), "namespace");
    existing[std::move(ns)] = std::move(item);
  }
  auto ours = [](const json& report) {
    const json labels = meta_of(report).value("labels", json::object());
    return labels.is_object() && labels.value(kManagedByLabel, std::string()) == kReportManagedBy;
  };
  auto where = [&](const std::string& ns) {
    return r.plural + " " + (ns.empty() ? "" : ns + "/") + report_name;
  };
  for (const auto& [ns, want] : desired) {
    auto it = existing.find(ns);
    if (it == existing.end()) {
      auto created = client.create(r, ns, want);
      if (created.ok()) {
        ++out.created;
      } else {
        out.errors.push_back("create " + where(ns) + ": " + created.error().describe());
      }
      continue;
    }
    if (!ours(it->second)) {
      out.errors.push_back(where(ns) + " exists and is not managed by orderguard; left alone");
      continue;
    }
    json next = carry_timestamps(want, it->second);
    if (report_current(it->second, next)) continue;
    next["metadata"]["resourceVersion"] = str(meta_of(it->second), "resourceVersion");
    auto updated = client.update(r, ns, next);
    if (updated.ok()) {
      ++out.updated;
    } else {
      // A Conflict (someone wrote it meanwhile) is settled by the next pass.
      out.errors.push_back("update " + where(ns) + ": " + updated.error().describe());
    }
  }
  for (const auto& [ns, report] : existing) {
    if (desired.count(ns) != 0 || !ours(report)) continue;
    kube::DeleteOptions precondition;
    precondition.precondition_resource_version = str(meta_of(report), "resourceVersion");
    Status removed = client.remove(r, ns, report_name, precondition);
    if (removed.ok() || removed.error().code == ErrorCode::kNotFound) {
      ++out.deleted;
    } else {
      out.errors.push_back("delete " + where(ns) + ": " + removed.error().describe());
    }
  }
  return out;
}

}  // namespace orderguard::webhook
