// Fuzz target over the whole admission path: decode + decision (webhook::review)
// and MinerPolicy and Quarantine compilation (policy::compile,
// policy::compile_quarantine) on the same bytes.
//
// Built two ways (see CMakeLists.txt): with clang and -fsanitize=fuzzer as a
// libFuzzer binary, and with any compiler linked to fuzz_driver_main.cpp, a
// small deterministic mutator that `make test` runs for a bounded time.
//
// Oracle: nothing throws or crashes, and every reply is either HTTP 400, or
// HTTP 200 with a well-formed AdmissionReview that echoes the request's uid and
// allows only requests with a known operation, a kind and a resource;
// JsonDoc (which review() reads requests with) reads every input as
// json::parse does, and finds repeated keys where nlohmann's parser callback does.
// A Quarantine that compiles gets a name the API server accepts (a DNS subdomain of at
// most 253 bytes) and an object that compiles back to the same name.
// A violation aborts, which both drivers report as a crash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_doc.h"
#include "policy/miner_policy.h"
#include "policy/quarantine.h"
#include "webhook/admission.h"

namespace {

using nlohmann::json;

[[noreturn]] void fail(const char* what, std::string_view body) {
  std::fprintf(stderr, "fuzz oracle violated: %s\nreply: %.*s\n", what,
               static_cast<int>(body.size() > 2000 ? 2000 : body.size()), body.data());
  std::abort();
}

void check_reply(std::string_view input, const orderguard::webhook::AdmissionReply& reply) {
  if (reply.http_status == 400) return;
  if (reply.http_status != 200) fail("status is neither 200 nor 400", reply.body);
  json out = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded() || !out.is_object()) fail("200 body is not a JSON object", reply.body);
  if (out.value("apiVersion", json()) != "admission.k8s.io/v1" ||
      out.value("kind", json()) != "AdmissionReview") {
    fail("200 body is not an admission.k8s.io/v1 AdmissionReview", reply.body);
  }
  const json response = out.value("response", json());
  if (!response.is_object() || !response.contains("allowed") || !response["allowed"].is_boolean()) {
    fail("response.allowed missing", reply.body);
  }
  // The uid as the reviewer read it; an accepted request always had one.
  json in = json::parse(input, nullptr, false);
  const json uid = in.is_object() && in.contains("request") && in["request"].is_object()
                       ? in["request"].value("uid", json())
                       : json();
  // The parser refuses invalid UTF-8, so an accepted uid round-trips exactly.
  if (!uid.is_string() || response.value("uid", json()) != uid) {
    fail("response.uid does not echo request.uid", reply.body);
  }
  if (!response["allowed"].get<bool>()) {
    // 403 for what the policy refuses, 400 for a request that cannot be routed.
    const json status = response.value("status", json());
    if (!status.is_object() ||
        (status.value("code", json()) != 403 && status.value("code", json()) != 400)) {
      fail("denial without status code 403 or 400", reply.body);
    }
    return;
  }
  // Only what was routed to a check is allowed: a known operation, with kind and resource.
  const json& request = in["request"];
  const json operation = request.value("operation", json());
  if (operation != "CREATE" && operation != "UPDATE" && operation != "DELETE" &&
      operation != "CONNECT") {
    fail("allowed a request without a known operation", reply.body);
  }
  for (const char* field : {"kind", "resource"}) {
    if (!request.value(field, json()).is_object()) {
      fail("allowed a request without kind or resource", reply.body);
    }
  }
}

// Whether an object of `input` (valid JSON) repeats a key, found through nlohmann's parser
// callback: an oracle for JsonDoc::check_unique_keys that shares no code with it.
bool repeats_a_key(std::string_view input) {
  std::vector<std::set<std::string>> open;  // keys of the open containers (arrays: none)
  bool repeated = false;
  [[maybe_unused]] const json dom = json::parse(
      input,
      [&](int, json::parse_event_t event, json& parsed) {
        switch (event) {
          case json::parse_event_t::object_start:
          case json::parse_event_t::array_start:
            open.emplace_back();
            break;
          case json::parse_event_t::object_end:
          case json::parse_event_t::array_end:
            open.pop_back();
            break;
          case json::parse_event_t::key:
            if (!open.back().insert(parsed.get<std::string>()).second) repeated = true;
            break;
          case json::parse_event_t::value:
            break;
        }
        return true;
      },
      /*allow_exceptions=*/false);
  return repeated;
}

// JsonDoc against nlohmann (`expected` is json::parse of the input, discarded when
// it refuses it): the same inputs accepted, the same values read, and operator== giving
// the answer nlohmann's == gives on the DOMs.
void check_json_doc(std::string_view input, const json& expected) {
  using orderguard::JsonDoc;
  using orderguard::JsonRef;
  auto parsed = JsonDoc::parse(input);
  if (!parsed.ok()) {
    // Its one deliberate difference: nlohmann has no depth limit.
    if (parsed.error().message.find("nesting deeper than") != std::string::npos) return;
    if (!expected.is_discarded()) {
      const std::string what =
          "JsonDoc refuses what json::parse accepts: " + parsed.error().message;
      fail(what.c_str(), input);
    }
    return;
  }
  if (expected.is_discarded()) fail("JsonDoc accepts what json::parse refuses", input);
  if (parsed->check_unique_keys().ok() == repeats_a_key(input)) {
    fail("JsonDoc::check_unique_keys differs from nlohmann's parser callback", input);
  }
  const JsonRef root = parsed->root();
  const json value = root.to_json();
  if (value != expected || value.dump() != expected.dump()) {
    fail("JsonDoc::to_json differs from json::parse", input);
  }
  if (!(root == root)) fail("JsonDoc root differs from itself", input);
  if (!expected.is_object() && !expected.is_array()) return;
  if (!(JsonDoc::from_json(expected).root() == root)) {
    fail("JsonDoc::from_json(json::parse) differs from JsonDoc::parse", input);
  }
  // find() keeps the last of repeated keys and at() walks elements, as the DOM does.
  size_t index = 0;
  for (auto it = root.begin(); it != root.end() && index < 64; ++it, ++index) {
    const JsonRef member = root.is_object() ? root.find(it.key()) : root.at(index);
    const json& in_dom = root.is_object() ? expected.at(std::string(it.key())) : expected.at(index);
    if (member.to_json() != in_dom) fail("JsonDoc find/at differs from the DOM", input);
  }
  // operator== on pairs of siblings (the first children of every container, within a
  // budget), where the mutator's swaps put similar values side by side.
  constexpr size_t kSiblings = 8;
  size_t budget = 2000;
  std::vector<JsonRef> containers = {root};
  std::vector<JsonRef> kids;
  std::vector<json> doms;
  while (!containers.empty() && budget > 0) {
    const JsonRef parent = containers.back();
    containers.pop_back();
    kids.clear();
    doms.clear();
    for (const JsonRef child : parent) {
      if (child.is_array() || child.is_object()) containers.push_back(child);
      if (kids.size() < kSiblings) {
        kids.push_back(child);
        doms.push_back(child.to_json());
      }
    }
    for (size_t i = 0; i < kids.size(); ++i) {
      for (size_t j = 0; j < kids.size(); ++j) {
        if ((kids[i] == kids[j]) != (doms[i] == doms[j])) {
          fail("JsonRef operator== differs from json operator==", input);
        }
      }
    }
    const size_t pairs = kids.size() * kids.size();
    budget = budget > pairs ? budget - pairs : 0;
  }
}

bool dns_subdomain(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    const std::string label = name.substr(start, dot == std::string::npos ? dot : dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

void check_quarantine(orderguard::JsonRef object) {
  auto entry = orderguard::policy::compile_quarantine(object);
  if (!entry.ok()) return;
  const std::string name = orderguard::policy::quarantine_name(*entry);
  if (!dns_subdomain(name)) fail("quarantine_name is not a DNS subdomain", name);
  const json made = orderguard::policy::to_quarantine_object(*entry);
  (void)made.dump(-1, ' ', false, json::error_handler_t::replace);
  const auto made_doc = orderguard::JsonDoc::from_json(made);
  auto again = orderguard::policy::compile_quarantine(made_doc.root());
  if (!again.ok()) fail("the Quarantine made from a compiled one does not compile", name);
  if (orderguard::policy::quarantine_name(*again) != name) {
    fail("a Quarantine made from a compiled one has another name", name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const orderguard::webhook::AdmissionContext context;
  check_reply(input, orderguard::webhook::review(input, context));

  json doc = json::parse(input, nullptr, /*allow_exceptions=*/false);
  // review() reads the request through JsonDoc: it must agree with nlohmann.
  check_json_doc(input, doc);
  // The compilers read the input in place, as the webhook hands them a request's object.
  if (auto indexed = orderguard::JsonDoc::parse(input); indexed.ok()) {
    const orderguard::JsonRef root = indexed->root();
    (void)orderguard::policy::compile(root);
    check_quarantine(root);
    if (const orderguard::JsonRef request = root.find("request"); request.is_object()) {
      (void)orderguard::policy::compile(request.find("object"));
      check_quarantine(request.find("object"));
    }
  }
  return 0;
}
