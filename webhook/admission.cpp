#include "webhook/admission.h"

#include "policy/finding.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

constexpr std::string_view kAdmissionApiVersion = "admission.k8s.io/v1";

AdmissionReply invalid(std::string message) {
  AdmissionReply reply;
  reply.http_status = 400;
  reply.decision = "invalid";
  reply.message = message;
  reply.body = "invalid AdmissionReview: " + std::move(message) + "\n";
  return reply;
}

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() ? &*it : nullptr;
}

std::string string_at(const json& obj, const char* key) {
  const json* v = member(obj, key);
  return v != nullptr && v->is_string() ? v->get_ref<const std::string&>() : std::string();
}

// The fast path of parse_json(). Accepts a subset of JSON (see admission.h) and
// builds the same DOM as nlohmann's parser would; returns false as soon as the
// input leaves the subset, and the caller parses it again with nlohmann.
class FastParser {
 public:
  explicit FastParser(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

  bool parse(json* out) {
    skip_ws();
    if (!value(out, 0)) return false;
    skip_ws();
    return p_ == end_;
  }

 private:
  static constexpr int kMaxDepth = 128;  // deeper documents take the slow path

  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool value(json* out, int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return object(out, depth + 1);
      case '[':
        return array(out, depth + 1);
      case '"': {
        std::string s;
        if (!string(&s)) return false;
        *out = std::move(s);
        return true;
      }
      case 't':
        return literal("true", true, out);
      case 'f':
        return literal("false", false, out);
      case 'n':
        return literal("null", nullptr, out);
      default:
        return number(out);
    }
  }

  bool literal(std::string_view word, json v, json* out) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    *out = std::move(v);
    return true;
  }

  bool object(json* out, int depth) {
    if (depth > kMaxDepth) return false;
    ++p_;
    *out = json::object();
    auto& members = out->get_ref<json::object_t&>();
    skip_ws();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    std::string key;
    while (true) {
      skip_ws();
      key.clear();
      if (p_ == end_ || *p_ != '"' || !string(&key)) return false;
      skip_ws();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_ws();
      // operator[]: a repeated key keeps the last value, as nlohmann's parser does.
      if (!value(&members[key], depth)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      return true;
    }
  }

  bool array(json* out, int depth) {
    if (depth > kMaxDepth) return false;
    ++p_;
    *out = json::array();
    auto& items = out->get_ref<json::array_t&>();
    skip_ws();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    while (true) {
      skip_ws();
      items.emplace_back();
      if (!value(&items.back(), depth)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != ']') return false;
      ++p_;
      return true;
    }
  }

  // At the opening quote. ASCII only: UTF-8 validation is left to nlohmann.
  bool string(std::string* out) {
    ++p_;
    const char* run = p_;
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out->append(run, p_);
        ++p_;
        return true;
      }
      if (c == '\\') {
        out->append(run, p_);
        if (++p_ == end_) return false;
        switch (*p_) {
          case '"':
          case '\\':
          case '/':
            *out += *p_;
            break;
          case 'b':
            *out += '\b';
            break;
          case 'f':
            *out += '\f';
            break;
          case 'n':
            *out += '\n';
            break;
          case 'r':
            *out += '\r';
            break;
          case 't':
            *out += '\t';
            break;
          default:  // \u and invalid escapes
            return false;
        }
        run = ++p_;
        continue;
      }
      if (c < 0x20 || c >= 0x80) return false;
      ++p_;
    }
    return false;
  }

  // -?(0|[1-9][0-9]*) of at most 18 digits (no overflow): number_integer when
  // negative, number_unsigned otherwise, as nlohmann stores them.
  bool number(json* out) {
    bool negative = false;
    if (*p_ == '-') {
      negative = true;
      ++p_;
    }
    const char* digits = p_;
    uint64_t v = 0;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
      v = v * 10 + static_cast<uint64_t>(*p_ - '0');
      ++p_;
    }
    const auto n = p_ - digits;
    if (n == 0 || n > 18 || (*digits == '0' && n > 1)) return false;
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    if (negative) {
      *out = -static_cast<json::number_integer_t>(v);
    } else {
      *out = static_cast<json::number_unsigned_t>(v);
    }
    return true;
  }

  const char* p_;
  const char* end_;
};

policy::Decision deny(std::string message) {
  policy::Decision d;
  d.allowed = false;
  d.message = std::move(message);
  return d;
}

// MinerPolicy objects are checked by compiling them: what cannot be compiled
// would otherwise be silently ignored by every webhook replica and agent.
policy::Decision decide_miner_policy(const json& request) {
  const std::string op = string_at(request, "operation");
  policy::Decision d;
  if (op != "CREATE" && op != "UPDATE") return d;
  auto compiled = policy::compile(request.value("object", json::object()));
  if (!compiled.ok()) return deny("invalid MinerPolicy: " + compiled.error().message);
  return d;
}

// The object and old object of the request; `owned`, when set, is the request itself and
// they are moved out of it instead of copied (review() owns the parsed body).
policy::Decision decide_request(const json& request, json* owned, const AdmissionContext& context) {
  // request.value() throws type_error for anything but an object, as it always did here.
  if (!request.is_object()) (void)request.value("kind", json::object());
  const json* kind_obj = member(request, "kind");
  const std::string kind = kind_obj != nullptr ? string_at(*kind_obj, "kind") : "";
  const std::string group = kind_obj != nullptr ? string_at(*kind_obj, "group") : "";
  if (kind == policy::kMinerPolicyKind && group == "security.orderguard.io") {
    return decide_miner_policy(request);
  }
  if (group == "tiers.orderguard.io") {
    // The CRD schema refuses what is malformed; what depends on other objects
    // (references, zones) is only a warning: the other object may come next.
    policy::Decision d;
    const std::string op = string_at(request, "operation");
    if (context.tier_warnings && (op == "CREATE" || op == "UPDATE")) {
      const json* object = member(request, "object");
      d.warnings = context.tier_warnings(kind, object != nullptr ? *object : json::object());
    }
    return d;
  }

  policy::AdmissionInput input;
  input.kind = kind;
  input.sub_resource = string_at(request, "subResource");
  input.operation = string_at(request, "operation");
  input.namespace_name = string_at(request, "namespace");
  input.name = string_at(request, "name");
  if (const json* user = member(request, "userInfo"); user != nullptr && user->is_object()) {
    input.user.username = string_at(*user, "username");
    if (const json* groups = member(*user, "groups"); groups != nullptr && groups->is_array()) {
      for (const auto& g : *groups) {
        if (g.is_string()) input.user.groups.push_back(g.get<std::string>());
      }
    }
  }
  auto take = [&](const char* key) -> json {
    if (owned == nullptr) return request.value(key, json());
    auto it = owned->find(key);
    return it == owned->end() ? json() : std::move(*it);
  };
  input.object = take("object");
  input.old_object = take("oldObject");
  if (context.namespace_labels && !input.namespace_name.empty()) {
    input.namespace_labels = context.namespace_labels(input.namespace_name);
  }
  static const auto kDefault = std::make_shared<const policy::PolicySet>(policy::combine({}));
  const auto& policies = context.policies ? *context.policies : *kDefault;
  return policy::evaluate(policies, input);
}

}  // namespace

policy::Decision decide(const json& request, const AdmissionContext& context) {
  return decide_request(request, nullptr, context);
}

json parse_json(std::string_view body) {
  json doc;
  if (FastParser(body).parse(&doc)) return doc;
  return json::parse(body, nullptr, /*allow_exceptions=*/false);
}

AdmissionReply review(std::string_view body, const AdmissionContext& context) {
  json doc = parse_json(body);
  if (doc.is_discarded()) return invalid("body is not JSON");
  if (!doc.is_object()) return invalid("body is not a JSON object");
  if (string_at(doc, "apiVersion") != kAdmissionApiVersion) {
    return invalid("apiVersion must be admission.k8s.io/v1, got '" +
                   policy::truncate_utf8(string_at(doc, "apiVersion"), 64) + "'");
  }
  if (string_at(doc, "kind") != "AdmissionReview") {
    return invalid("kind must be AdmissionReview, got '" +
                   policy::truncate_utf8(string_at(doc, "kind"), 64) + "'");
  }
  auto req_it = doc.find("request");
  if (req_it == doc.end() || !req_it->is_object()) return invalid("request is missing");
  json& request = *req_it;
  const std::string uid = string_at(request, "uid");
  if (uid.empty()) return invalid("request.uid is missing");

  AdmissionReply reply;
  reply.uid = uid;
  const json* kind_obj = member(request, "kind");
  reply.kind = kind_obj != nullptr ? string_at(*kind_obj, "kind") : "";
  reply.operation = string_at(request, "operation");
  reply.namespace_name = string_at(request, "namespace");
  reply.name = string_at(request, "name");

  policy::Decision d;
  try {
    // The parsed body is ours: the object moves into the decision's input, uncopied.
    d = decide_request(request, &request, context);
  } catch (const std::exception& e) {
    // A bug must not turn into an allow: refuse, and say why.
    d = deny(std::string("internal error while evaluating the request: ") + e.what());
  }

  json response = {{"uid", uid}, {"allowed", d.allowed}};
  if (!d.allowed) {
    response["status"] = {{"code", 403}, {"reason", "Forbidden"}, {"message", d.message}};
  }
  if (!d.warnings.empty()) response["warnings"] = d.warnings;
  if (!d.audit_annotations.empty()) response["auditAnnotations"] = d.audit_annotations;

  for (const auto& f : d.findings) {
    if (std::find(reply.rules.begin(), reply.rules.end(), f.rule_id) == reply.rules.end()) {
      reply.rules.push_back(f.rule_id);
    }
  }
  if (!d.allowed) {
    reply.decision = "denied";
  } else {
    auto it = d.audit_annotations.find("miner-decision");
    reply.decision = it != d.audit_annotations.end() && it->second != "denied"
                         ? it->second
                         : (d.warnings.empty() ? "allowed" : "warned");
  }
  reply.message = d.message;
  reply.body = json{{"apiVersion", kAdmissionApiVersion},
                    {"kind", "AdmissionReview"},
                    {"response", std::move(response)}}
                   .dump(-1, ' ', false, json::error_handler_t::replace);
  return reply;
}

}  // namespace orderguard::webhook
