#include "webhook/policy_status.h"

#include <ctime>

#include "base/json_doc.h"
#include "base/log.h"
#include "base/text.h"
#include "base/time_format.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"
#include "webhook/server.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

constexpr const char* kValid = "Valid";
constexpr const char* kAudited = "Audited";

const json& member_or(const json& object, const char* key, const json& fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return it == object.end() ? fallback : *it;
}

const json& empty_object() {
  static const json kEmpty = json::object();
  return kEmpty;
}

int64_t int_member(const json& object, const char* key) {
  const json& v = member_or(object, key, empty_object());
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

std::string string_member(const json& object, const char* key) {
  const json& v = member_or(object, key, empty_object());
  return v.is_string() ? v.get<std::string>() : "";
}

const json& status_of(const json& policy) { return member_or(policy, "status", empty_object()); }

json conditions_of(const json& policy) {
  const json& c = member_or(status_of(policy), "conditions", empty_object());
  return c.is_array() ? c : json::array();
}

const json* find_condition(const json& conditions, const std::string& type) {
  for (const auto& c : conditions) {
    if (c.is_object() && string_member(c, "type") == type) return &c;
  }
  return nullptr;
}

// A metav1.Condition that keeps lastTransitionTime when its status is unchanged.
json condition(const json& existing, const std::string& type, bool ok, const std::string& reason,
               const std::string& message, int64_t generation, const std::string& now) {
  std::string since = now;
  const std::string status = ok ? "True" : "False";
  if (const json* old = find_condition(existing, type);
      old != nullptr && string_member(*old, "status") == status &&
      !string_member(*old, "lastTransitionTime").empty()) {
    since = string_member(*old, "lastTransitionTime");
  }
  return {{"type", type},
          {"status", status},
          {"reason", reason},
          {"message", truncate_utf8(message, 32 * 1024)},
          {"observedGeneration", generation},
          {"lastTransitionTime", since}};
}

// `existing` with the condition of `replacement`'s type replaced (or appended).
json with_condition(const json& existing, json replacement) {
  json out = json::array();
  const std::string type = replacement["type"];
  for (const auto& c : existing) {
    if (!c.is_object() || string_member(c, "type") != type) out.push_back(c);
  }
  out.push_back(std::move(replacement));
  return out;
}

json status_patch(const json& current, json status) {
  const json& meta = member_or(current, "metadata", empty_object());
  return {{"metadata", {{"resourceVersion", string_member(meta, "resourceVersion")}}},
          {"status", std::move(status)}};
}

// Counted, not decoded: this runs for every policy on each status round.
int64_t quarantine_entries(const json& policy) {
  // empty_object(), not json(): member_or returns its fallback by reference, and a
  // temporary would be gone before q is read.
  const json& q =
      member_or(member_or(policy, "spec", empty_object()), "quarantine", empty_object());
  return q.is_array() ? static_cast<int64_t>(q.size()) : 0;
}

}  // namespace

std::optional<json> spec_status_patch(const json& current, const json& observed,
                                      const std::string& compile_error,
                                      std::chrono::system_clock::time_point now) {
  const int64_t generation =
      int_member(member_or(observed, "metadata", empty_object()), "generation");
  const int64_t entries = quarantine_entries(observed);
  const bool valid = compile_error.empty();
  const std::string reason = valid ? "Compiled" : "CompileFailed";
  const std::string message =
      valid ? "the policy compiles and is enforced"
            : compile_error + " (the built-in default is enforced in its place)";
  const json& status = status_of(current);
  const json existing = conditions_of(current);
  const json* old = find_condition(existing, kValid);
  const bool current_enough =
      status.contains("observedGeneration") &&
      int_member(status, "observedGeneration") == generation &&
      status.contains("quarantineEntries") && int_member(status, "quarantineEntries") == entries &&
      old != nullptr && string_member(*old, "status") == (valid ? "True" : "False") &&
      string_member(*old, "reason") == reason &&
      string_member(*old, "message") == truncate_utf8(message, 32 * 1024) &&
      int_member(*old, "observedGeneration") == generation;
  if (current_enough) return std::nullopt;
  json conditions = with_condition(existing, condition(existing, kValid, valid, reason, message,
                                                       generation, format_rfc3339(now)));
  return status_patch(current, {{"observedGeneration", generation},
                                {"quarantineEntries", entries},
                                {"conditions", std::move(conditions)}});
}

json audit_status_patch(const json& current, int64_t violations, int64_t audited_generation,
                        std::chrono::system_clock::time_point now,
                        const std::vector<std::string>& list_errors) {
  const std::string stamp = format_rfc3339(now);
  const json existing = conditions_of(current);
  if (!list_errors.empty()) {
    std::string message = "audit at " + stamp + " could not list: ";
    for (size_t i = 0; i < list_errors.size(); ++i) message += (i ? "; " : "") + list_errors[i];
    return status_patch(
        current, {{"conditions",
                   with_condition(existing, condition(existing, kAudited, false, "AuditIncomplete",
                                                      message, audited_generation, stamp))}});
  }
  json conditions = with_condition(
      existing, condition(existing, kAudited, true, "AuditCompleted",
                          "last audit at " + stamp + ": " + std::to_string(violations) +
                              " existing object(s) violate this policy",
                          audited_generation, stamp));
  return status_patch(current,
                      {{"auditViolations", violations}, {"conditions", std::move(conditions)}});
}

json admission_denials_patch(const json& current, int64_t denials) {
  const int64_t total = int_member(status_of(current), "admissionDenials") + denials;
  return status_patch(current, {{"admissionDenials", total}});
}

Status patch_policy_status(kube::Client& client, const std::string& name,
                           const std::function<std::optional<json>(const json&)>& make,
                           int attempts) {
  Status last = make_error(ErrorCode::kConflict, "no attempt made");
  for (int i = 0; i < attempts; ++i) {
    auto current = client.get(kMinerPolicies, "", name);
    if (!current.ok()) return current.error();
    std::optional<json> patch = make(*current);
    if (!patch) return {};
    auto patched =
        client.patch(kMinerPolicies, "", name, kube::PatchType::kMerge, *patch, "status");
    if (patched.ok()) return {};
    last = patched.error();
    if (patched.error().code != ErrorCode::kConflict) return last;
  }
  return last;
}

PolicyStatusWriter::PolicyStatusWriter(kube::Client& client, const Clock& clock,
                                       PolicyStatusOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {}

PolicyStatusWriter::~PolicyStatusWriter() { stop(); }

void PolicyStatusWriter::start() {
  worker_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, options_.interval, [this] { return stopping_; })) {
      lock.unlock();
      sync_once();
      lock.lock();
    }
  });
}

void PolicyStatusWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  flush_denials();
}

void PolicyStatusWriter::add_denial(const std::string& policy) {
  std::lock_guard<std::mutex> lock(mu_);
  ++pending_[policy];
}

int64_t PolicyStatusWriter::pending_denials(const std::string& policy) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(policy);
  return it == pending_.end() ? 0 : it->second;
}

void PolicyStatusWriter::sync_once() {
  flush_denials();
  if (!options_.leads || options_.leads()) sync_spec_status();
}

void PolicyStatusWriter::flush_denials() {
  std::map<std::string, int64_t> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch = pending_;
  }
  for (const auto& [name, denials] : batch) {
    if (denials == 0) continue;
    Status written =
        patch_policy_status(client_, name, [denials](const json& current) -> std::optional<json> {
          return admission_denials_patch(current, denials);
        });
    std::lock_guard<std::mutex> lock(mu_);
    if (written.ok() || written.error().code == ErrorCode::kNotFound) {
      // Denials made meanwhile stay pending; those of a deleted policy are dropped.
      auto it = pending_.find(name);
      if (it != pending_.end()) {
        it->second -= denials;
        if (it->second <= 0) pending_.erase(it);
      }
    } else {
      log::error("writing admission denials to MinerPolicy status failed; retrying",
                 {{"policy", name}, {"denials", denials}, {"error", written.error().describe()}});
    }
  }
}

const std::string& PolicyStatusWriter::compile_error(const json& policy) {
  const json& meta = member_or(policy, "metadata", empty_object());
  Compiled& c = compiled_[string_member(meta, "name")];
  const std::string uid = string_member(meta, "uid");
  const int64_t generation = int_member(meta, "generation");
  if (c.uid != uid || c.generation != generation) {
    // Compiled again only when the object changed: the serialization for the JsonRef that
    // compile() reads is paid once per generation.
    auto result = policy::compile(JsonDoc::from_json(policy).root());
    c = {uid, generation, result.ok() ? "" : result.error().message};
  }
  return c.error;
}

void PolicyStatusWriter::sync_spec_status() {
  if (!options_.policies) return;
  std::vector<kube::ObjectPtr> policies = options_.policies();
  std::map<std::string, Compiled> seen;
  bool new_generation = false;
  for (const auto& observed : policies) {
    const std::string name =
        string_member(member_or(*observed, "metadata", empty_object()), "name");
    const std::string& error = compile_error(*observed);
    seen[name] = compiled_[name];
    // The cached copy first: most rounds find every status current and read nothing.
    if (!spec_status_patch(*observed, *observed, error, clock_.wall_now())) continue;
    const int64_t generation =
        int_member(member_or(*observed, "metadata", empty_object()), "generation");
    bool wrote = false;
    Status written =
        patch_policy_status(client_, name, [&](const json& current) -> std::optional<json> {
          // A generation the informer has not delivered yet is not enforced yet: it is
          // written in a later round, once it is.
          if (int_member(member_or(current, "metadata", empty_object()), "generation") !=
              generation) {
            return std::nullopt;
          }
          auto patch = spec_status_patch(current, *observed, error, clock_.wall_now());
          wrote = patch.has_value();
          return patch;
        });
    if (!written.ok()) {
      wrote = false;
      if (written.error().code != ErrorCode::kNotFound) {
        log::error("writing MinerPolicy status failed; retrying",
                   {{"policy", name}, {"error", written.error().describe()}});
      }
      continue;
    }
    if (wrote) {
      log::info("MinerPolicy status written",
                {{"policy", name}, {"observedGeneration", generation}, {"valid", error.empty()}});
      new_generation = true;
    }
  }
  compiled_ = std::move(seen);  // forget deleted policies
  if (new_generation && options_.on_new_generation) options_.on_new_generation();
}

}  // namespace orderguard::webhook
