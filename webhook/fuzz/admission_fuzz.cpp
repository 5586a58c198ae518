// Fuzz target over the whole admission path: decode + decision (webhook::review)
// and MinerPolicy compilation (policy::compile) on the same bytes.
//
// Built two ways (see CMakeLists.txt): with clang and -fsanitize=fuzzer as a
// libFuzzer binary, and with any compiler linked to fuzz_driver_main.cpp, a
// small deterministic mutator that `make test` runs for a bounded time.
//
// Oracle: nothing throws or crashes, and every reply is either HTTP 400, or
// HTTP 200 with a well-formed AdmissionReview that echoes the request's uid.
// A violation aborts, which both drivers report as a crash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "policy/miner_policy.h"
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
    const json status = response.value("status", json());
    if (!status.is_object() || status.value("code", json()) != 403) {
      fail("denial without status code 403", reply.body);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const orderguard::webhook::AdmissionContext context;
  check_reply(input, orderguard::webhook::review(input, context));

  json doc = json::parse(input, nullptr, /*allow_exceptions=*/false);
  // The webhook's fast parser must agree with nlohmann's on every input.
  const json fast = orderguard::webhook::parse_json(input);
  if (fast.is_discarded() != doc.is_discarded() ||
      (!doc.is_discarded() && (fast != doc || fast.dump() != doc.dump()))) {
    fail("parse_json disagrees with json::parse", input);
  }
  if (!doc.is_discarded()) {
    (void)orderguard::policy::compile(doc);
    if (doc.is_object() && doc.contains("request") && doc["request"].is_object()) {
      (void)orderguard::policy::compile(doc["request"].value("object", json()));
    }
  }
  return 0;
}
