// Fuzz target over the ConfigMap and Secret checks (policy/config_object.h): the same bytes
// as a Secret value (base64, so any bytes reach the scanners), as a ConfigMap value when
// they are UTF-8, and as a whole ConfigMap object when they are JSON.
//
// Oracle: nothing throws or crashes; findings are bounded (kMaxFindings) and each names
// a rule and a field path; a Secret's findings never carry evidence and their messages
// never quote the value (they start with a rule summary and say the value is not shown).
// A violation aborts, which both drivers report as a crash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/base64.h"
#include "base/json_doc.h"
#include "base/text.h"
#include "policy/config_object.h"
#include "policy/decision.h"
#include "policy/rules.h"

namespace {

namespace policy = orderguard::policy;
using orderguard::base64_encode;
using orderguard::is_valid_utf8;
using orderguard::JsonDoc;

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz oracle violated: %s\n%.*s\n", what,
               static_cast<int>(detail.size() > 2000 ? 2000 : detail.size()), detail.data());
  std::abort();
}

void check(const std::vector<policy::Finding>& findings, bool secret) {
  if (findings.size() > policy::kMaxFindings) fail("too many findings", "");
  for (const policy::Finding& f : findings) {
    if (f.rule_id.empty() || f.field_path.empty()) fail("finding without rule or path", f.message);
    if (!secret) continue;
    if (!f.evidence.empty()) fail("Secret finding carries evidence", f.evidence);
    if (f.message.find("(Secret value not shown)") == std::string::npos) {
      fail("Secret finding message may quote the value", f.message);
    }
  }
}

std::vector<policy::Finding> run(const std::string& object_json, std::string_view kind) {
  auto doc = JsonDoc::parse(object_json);
  if (!doc.ok()) fail("test object is not JSON", object_json);
  return policy::run_config_rules(policy::collect_config_context(doc->root(), kind),
                                  policy::built_in_default());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // A Secret whose value is the input.
  std::string secret =
      R"({"metadata":{"name":"s"},"data":{"config.json":")" + base64_encode(input) + R"("}})";
  check(run(secret, "Secret"), true);

  // A ConfigMap whose value is the input (JSON can only carry UTF-8).
  if (is_valid_utf8(input)) {
    nlohmann::json cm = {{"metadata", {{"name", "c"}}}, {"data", {{"config.json", input}}}};
    check(run(cm.dump(), "ConfigMap"), false);
  }

  // The input as a whole object, through the admission decision.
  if (auto doc = JsonDoc::parse(input); doc.ok()) {
    for (std::string_view kind : {"ConfigMap", "Secret"}) {
      const auto context = policy::collect_config_context(doc->root(), kind);
      check(policy::run_config_rules(context, policy::built_in_default()), kind == "Secret");
      policy::AdmissionInput in;
      in.kind = std::string(kind);
      in.operation = "CREATE";
      in.object_ref = doc->root();
      (void)policy::evaluate(policy::built_in_default(), in);
    }
  }
  return 0;
}
