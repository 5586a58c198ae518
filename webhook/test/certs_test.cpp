// The pure certificate decisions of self-managed TLS, at explicit times.
#include "webhook/certs.h"

#include <gtest/gtest.h>

#include "base/base64.h"
#include "kube/pki.h"

namespace orderguard::webhook {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::system_clock;

constexpr auto kDay = hours(24);
const system_clock::time_point kT0 = system_clock::time_point(std::chrono::seconds(1'800'000'000));

ServingNames names() { return serving_names("orderguard-webhook", "orderguard", {"127.0.0.1"}); }

CertMaterial fresh(const RotationPolicy& policy, system_clock::time_point at = kT0) {
  auto m = issue(CertAction::kRegenerate, nullptr, "orderguard-webhook.orderguard.svc", names(),
                 policy, at);
  EXPECT_TRUE(m.ok()) << m.error().describe();
  return std::move(m).value();
}

TEST(ServingNames, CoverTheServiceFormsAndSortExtraSans) {
  auto n = serving_names("wh", "sec", {"127.0.0.1", "::1", "wh.example.org", "wh", ""});
  EXPECT_EQ(n.dns, (std::vector<std::string>{"wh.sec.svc", "wh.sec.svc.cluster.local", "wh.sec",
                                             "wh", "wh.example.org"}));
  EXPECT_EQ(n.ips, (std::vector<std::string>{"127.0.0.1", "::1"}));
}

TEST(DecideCertAction, NothingStoredRegenerates) {
  EXPECT_EQ(decide_cert_action(kT0, nullptr, names(), {}), CertAction::kRegenerate);
}

TEST(DecideCertAction, FreshMaterialIsKeptAndCoversEveryName) {
  RotationPolicy policy;
  CertMaterial m = fresh(policy);
  EXPECT_EQ(decide_cert_action(kT0, &m, names(), policy), CertAction::kKeep);
  auto cert = kube::Certificate::from_pem(m.cert);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->dns_names()[0], "orderguard-webhook.orderguard.svc");
  EXPECT_EQ(cert->ip_addresses(), std::vector<std::string>{"127.0.0.1"});
  EXPECT_TRUE(m.previous_ca_cert.empty());
}

TEST(DecideCertAction, ServingCertIsRenewedThirtyDaysBeforeExpiry) {
  RotationPolicy policy;  // serving 365 d, renew 30 d before; CA 5 years
  CertMaterial m = fresh(policy);
  EXPECT_EQ(decide_cert_action(kT0 + 334 * kDay, &m, names(), policy), CertAction::kKeep);
  EXPECT_EQ(decide_cert_action(kT0 + 336 * kDay, &m, names(), policy), CertAction::kRenewServing);
  EXPECT_EQ(decide_cert_action(kT0 + 400 * kDay, &m, names(), policy), CertAction::kRenewServing);

  auto renewed = issue(CertAction::kRenewServing, &m, "cn", names(), policy, kT0 + 336 * kDay);
  ASSERT_TRUE(renewed.ok()) << renewed.error().describe();
  EXPECT_EQ(renewed->ca_cert, m.ca_cert) << "renewal keeps the CA";
  EXPECT_NE(renewed->cert, m.cert);
  EXPECT_EQ(decide_cert_action(kT0 + 336 * kDay, &*renewed, names(), policy), CertAction::kKeep);
}

TEST(DecideCertAction, NewSanRenewsTheServingCert) {
  RotationPolicy policy;
  CertMaterial m = fresh(policy);
  auto wider = serving_names("orderguard-webhook", "orderguard", {"127.0.0.1", "10.0.0.9"});
  EXPECT_EQ(decide_cert_action(kT0, &m, wider, policy), CertAction::kRenewServing);
}

TEST(DecideCertAction, LeafOfAnotherCaOrMismatchedKeyIsRenewed) {
  RotationPolicy policy;
  CertMaterial a = fresh(policy);
  CertMaterial b = fresh(policy);
  CertMaterial mixed = a;
  mixed.cert = b.cert;
  mixed.key = b.key;
  EXPECT_EQ(decide_cert_action(kT0, &mixed, names(), policy), CertAction::kRenewServing);
  mixed = a;
  mixed.key = b.key;
  EXPECT_EQ(decide_cert_action(kT0, &mixed, names(), policy), CertAction::kRenewServing);
}

TEST(DecideCertAction, BrokenOrExpiredCaRegenerates) {
  RotationPolicy policy;
  CertMaterial m = fresh(policy);
  CertMaterial broken = m;
  broken.ca_cert = "not pem";
  EXPECT_EQ(decide_cert_action(kT0, &broken, names(), policy), CertAction::kRegenerate);
  EXPECT_EQ(decide_cert_action(kT0 + 6 * 365 * kDay, &m, names(), policy), CertAction::kRegenerate);
}

// Lifetimes count from the moment of issue, not from the backdated notBefore:
// otherwise a 90 s CA with a 60 s renewal window would be rotated as soon as made.
TEST(Issue, ShortLifetimesAreNotSpentByTheBackdatedStart) {
  using std::chrono::seconds;
  RotationPolicy policy{.serving_validity = seconds(40),
                        .renew_before = seconds(25),
                        .ca_validity = seconds(90),
                        .ca_renew_before = seconds(60)};
  auto m = issue(CertAction::kRegenerate, nullptr, "cn", names(), policy, kT0);
  ASSERT_TRUE(m.ok()) << m.error().describe();
  EXPECT_EQ(*kube::certificate_not_after(m->cert), kT0 + seconds(40));
  EXPECT_EQ(*kube::certificate_not_after(m->ca_cert), kT0 + seconds(90));
  EXPECT_EQ(decide_cert_action(kT0, &*m, names(), policy), CertAction::kKeep);
  EXPECT_EQ(decide_cert_action(kT0 + seconds(14), &*m, names(), policy), CertAction::kKeep);
  EXPECT_EQ(decide_cert_action(kT0 + seconds(15), &*m, names(), policy), CertAction::kRenewServing);
  EXPECT_EQ(decide_cert_action(kT0 + seconds(30), &*m, names(), policy), CertAction::kRotateCa);
}

TEST(DecideCertAction, CaRotationKeepsTheOldCaInTheBundleUntilItExpires) {
  RotationPolicy policy{.serving_validity = 100 * kDay,
                        .renew_before = 30 * kDay,
                        .ca_validity = 200 * kDay,
                        .ca_renew_before = 30 * kDay};
  CertMaterial m = fresh(policy);
  const auto rotate_at = kT0 + 171 * kDay;
  // The serving certificate was renewed in between; the CA's window decides.
  auto renewed = issue(CertAction::kRenewServing, &m, "cn", names(), policy, kT0 + 150 * kDay);
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(decide_cert_action(kT0 + 169 * kDay, &*renewed, names(), policy), CertAction::kKeep);
  EXPECT_EQ(decide_cert_action(rotate_at, &*renewed, names(), policy), CertAction::kRotateCa);

  auto rotated = issue(CertAction::kRotateCa, &*renewed, "cn", names(), policy, rotate_at);
  ASSERT_TRUE(rotated.ok()) << rotated.error().describe();
  EXPECT_NE(rotated->ca_cert, m.ca_cert);
  EXPECT_EQ(rotated->previous_ca_cert, m.ca_cert);
  EXPECT_EQ(decide_cert_action(rotate_at, &*rotated, names(), policy), CertAction::kKeep);

  // During the overlap the bundle trusts the leaves of both CAs.
  auto bundle = kube::Certificate::all_from_pem(
      ca_bundle(rotate_at, rotated->ca_cert, rotated->previous_ca_cert));
  ASSERT_TRUE(bundle.ok());
  ASSERT_EQ(bundle->size(), 2u);
  auto old_leaf = kube::Certificate::from_pem(renewed->cert);
  auto new_leaf = kube::Certificate::from_pem(rotated->cert);
  EXPECT_TRUE(kube::verify_certificate(*old_leaf, *bundle, true, false, rotate_at).ok());
  EXPECT_TRUE(kube::verify_certificate(*new_leaf, *bundle, true, false, rotate_at).ok());

  // Once the old CA has expired it leaves the bundle, and the next issue drops it.
  const auto after = kT0 + 201 * kDay;
  EXPECT_EQ(
      kube::Certificate::all_from_pem(ca_bundle(after, rotated->ca_cert, rotated->previous_ca_cert))
          ->size(),
      1u);
  auto later = issue(CertAction::kRenewServing, &*rotated, "cn", names(), policy, after);
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(later->previous_ca_cert.empty());
}

TEST(SecretData, RoundTripsAndRejectsIncompleteSecrets) {
  CertMaterial m = fresh({});
  m.previous_ca_cert = m.ca_cert;
  json secret = {{"data", secret_data(m)}};
  auto back = material_from_secret(secret);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, m);
  secret["data"].erase(kSecretCaKey);
  EXPECT_FALSE(material_from_secret(secret).has_value());
  EXPECT_FALSE(material_from_secret(json{{"data", {{kSecretCert, "%%%"}}}}).has_value());
  EXPECT_FALSE(material_from_secret(json::array()).has_value());
}

TEST(WithCaBundle, SetsEveryWebhookAndReportsNoChangeWhenCurrent) {
  json config = {{"metadata", {{"name", "orderguard"}, {"resourceVersion", "7"}}},
                 {"webhooks",
                  {{{"name", "a.orderguard.io"}, {"clientConfig", {{"caBundle", "b2xk"}}}},
                   {{"name", "b.orderguard.io"}}}}};
  auto next = with_ca_bundle(config, "PEM");
  ASSERT_TRUE(next.has_value());
  for (const auto& hook : (*next)["webhooks"]) {
    EXPECT_EQ(hook["clientConfig"]["caBundle"], base64_encode("PEM"));
  }
  EXPECT_EQ((*next)["metadata"]["resourceVersion"], "7") << "the update stays optimistic";
  EXPECT_FALSE(with_ca_bundle(*next, "PEM").has_value());
  EXPECT_FALSE(with_ca_bundle(json{{"metadata", json::object()}}, "PEM").has_value());
}

}  // namespace
}  // namespace orderguard::webhook
