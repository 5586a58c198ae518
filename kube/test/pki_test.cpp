#include "kube/pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>

#include "base/base64.h"

namespace orderguard::kube {
namespace {

using std::chrono::hours;
using std::chrono::system_clock;
using ::testing::TestWithParam;
using ::testing::Values;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Verifies with X509_verify_cert directly, independent of verify_certificate,
// so a bug in that helper cannot hide a broken certificate.
int raw_verify(const Certificate& leaf, const Certificate& root, int purpose) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, root.get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  const int ok = X509_verify_cert(ctx);
  const int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return err;
}

CertificateSpec ca_spec() {
  CertificateSpec spec;
  spec.common_name = "orderguard-test-ca";
  spec.validity = hours(24);
  return spec;
}

CertificateSpec server_spec() {
  CertificateSpec spec;
  spec.common_name = "kube-apiserver";
  spec.organizations = {"orderguard"};
  spec.dns_names = {"localhost", "kubernetes.default.svc"};
  spec.ip_addresses = {"127.0.0.1", "10.0.0.1", "::1"};
  spec.server_auth = true;
  spec.validity = hours(1);
  return spec;
}

class PkiKeyTypeTest : public TestWithParam<KeyType> {};

TEST_P(PkiKeyTypeTest, LeafSignedByCaVerifies) {
  auto ca = generate_ca(ca_spec(), GetParam());
  ASSERT_TRUE(ca.ok()) << ca.error().describe();
  EXPECT_TRUE(ca->cert.is_ca());
  auto leaf = generate_signed(server_spec(), *ca, GetParam());
  ASSERT_TRUE(leaf.ok()) << leaf.error().describe();
  EXPECT_FALSE(leaf->cert.is_ca());

  EXPECT_EQ(raw_verify(leaf->cert, ca->cert, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_TRUE(verify_certificate(leaf->cert, {ca->cert}, /*server_auth=*/true).ok());
  // The spec asked for serverAuth only.
  EXPECT_NE(raw_verify(leaf->cert, ca->cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_FALSE(verify_certificate(leaf->cert, {ca->cert}, false, /*client_auth=*/true).ok());

  EXPECT_EQ(leaf->key.is_rsa(), GetParam() == KeyType::kRsa2048);
  EXPECT_EQ(leaf->key.is_ec(), GetParam() == KeyType::kEcP256);
  EXPECT_TRUE(leaf->cert.matches_key(leaf->key));
  EXPECT_FALSE(leaf->cert.matches_key(ca->key));
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, PkiKeyTypeTest, Values(KeyType::kRsa2048, KeyType::kEcP256),
                         [](const ::testing::TestParamInfo<KeyType>& param_info) {
                           return param_info.param == KeyType::kRsa2048 ? "Rsa2048" : "EcP256";
                         });

TEST(PkiTest, SubjectAndSansArePresent) {
  auto ca = generate_ca(ca_spec());
  ASSERT_TRUE(ca.ok()) << ca.error().describe();
  auto leaf = generate_signed(server_spec(), *ca);
  ASSERT_TRUE(leaf.ok()) << leaf.error().describe();
  EXPECT_EQ(leaf->cert.common_name(), "kube-apiserver");
  EXPECT_EQ(leaf->cert.organizations(), std::vector<std::string>{"orderguard"});
  EXPECT_TRUE(contains(leaf->cert.dns_names(), "localhost"));
  EXPECT_TRUE(contains(leaf->cert.dns_names(), "kubernetes.default.svc"));
  EXPECT_TRUE(contains(leaf->cert.ip_addresses(), "127.0.0.1"));
  EXPECT_TRUE(contains(leaf->cert.ip_addresses(), "10.0.0.1"));
  EXPECT_TRUE(contains(leaf->cert.ip_addresses(), "::1"));
  // OpenSSL's own host and IP matching agrees.
  EXPECT_EQ(X509_check_host(leaf->cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf->cert.get(), "127.0.0.1", 0), 1);
  EXPECT_NE(X509_check_ip_asc(leaf->cert.get(), "127.0.0.2", 0), 1);
}

TEST(PkiTest, ClientCertificateCarriesGroups) {
  auto ca = generate_ca(ca_spec(), KeyType::kRsa2048);
  ASSERT_TRUE(ca.ok()) << ca.error().describe();
  CertificateSpec spec;
  spec.common_name = "orderguard-admin";
  spec.organizations = {"system:masters", "team-a"};
  spec.client_auth = true;
  auto client = generate_signed(spec, *ca, KeyType::kRsa2048);
  ASSERT_TRUE(client.ok()) << client.error().describe();
  EXPECT_EQ(client->cert.organizations(), (std::vector<std::string>{"system:masters", "team-a"}));
  EXPECT_TRUE(verify_certificate(client->cert, {ca->cert}, false, /*client_auth=*/true).ok());
  EXPECT_TRUE(client->cert.dns_names().empty());
}

TEST(PkiTest, ValidityWindowIsReadBack) {
  auto ca = generate_ca(ca_spec());
  ASSERT_TRUE(ca.ok());
  CertificateSpec spec = server_spec();
  const auto start = system_clock::from_time_t(1'800'000'000);
  spec.not_before = start;
  spec.validity = hours(48);
  auto leaf = generate_signed(spec, *ca);
  ASSERT_TRUE(leaf.ok()) << leaf.error().describe();
  EXPECT_EQ(leaf->cert.not_before(), start);
  EXPECT_EQ(leaf->cert.not_after(), start + hours(48));
  auto from_pem = certificate_not_after(leaf->cert_pem);
  ASSERT_TRUE(from_pem.ok()) << from_pem.error().describe();
  EXPECT_EQ(*from_pem, start + hours(48));

  // Outside its window the chain no longer verifies; the message says why.
  auto expired = verify_certificate(leaf->cert, {ca->cert}, true, false, start + hours(49));
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos) << expired.error().message;
}

TEST(PkiTest, PemRoundTripKeepsKeyAndCertificate) {
  for (KeyType type : {KeyType::kRsa2048, KeyType::kEcP256}) {
    auto ca = generate_ca(ca_spec(), type);
    ASSERT_TRUE(ca.ok()) << ca.error().describe();
    EXPECT_NE(ca->key_pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
    EXPECT_NE(ca->cert_pem.find("-----BEGIN CERTIFICATE-----"), std::string::npos);

    auto key = PrivateKey::from_pem(ca->key_pem);
    ASSERT_TRUE(key.ok()) << key.error().describe();
    auto cert = Certificate::from_pem(ca->cert_pem);
    ASSERT_TRUE(cert.ok()) << cert.error().describe();
    EXPECT_TRUE(cert->matches_key(*key));
    EXPECT_EQ(X509_cmp(cert->get(), ca->cert.get()), 0);
    auto again = cert->to_pem();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, ca->cert_pem);

    // A key decoded from PEM can sign.
    auto leaf = sign_certificate(server_spec(), *key, *cert, *key);
    ASSERT_TRUE(leaf.ok()) << leaf.error().describe();
    EXPECT_TRUE(verify_certificate(*leaf, {*cert}, true).ok());

    auto pub = key->public_key_pem();
    ASSERT_TRUE(pub.ok());
    EXPECT_NE(pub->find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
  }
}

TEST(PkiTest, BundleDecodesEveryCertificate) {
  auto a = generate_ca(ca_spec());
  auto b = generate_ca(ca_spec());
  ASSERT_TRUE(a.ok() && b.ok());
  auto bundle = Certificate::all_from_pem(a->cert_pem + b->cert_pem);
  ASSERT_TRUE(bundle.ok()) << bundle.error().describe();
  EXPECT_EQ(bundle->size(), 2u);
}

TEST(PkiTest, GarbagePemIsAnErrorWithOpenSslReason) {
  auto cert = Certificate::from_pem("not a certificate");
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.error().code, ErrorCode::kInvalid);
  EXPECT_NE(cert.error().message.find("decode certificate PEM: error:"), std::string::npos)
      << cert.error().message;
  EXPECT_NE(cert.error().message.find("no start line"), std::string::npos) << cert.error().message;

  const std::string corrupt =
      "-----BEGIN CERTIFICATE-----\nAAAAbm90IGRlcg==\n-----END CERTIFICATE-----\n";
  EXPECT_FALSE(Certificate::from_pem(corrupt).ok());
  EXPECT_FALSE(Certificate::all_from_pem("").ok());

  auto key = PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code, ErrorCode::kInvalid);
  EXPECT_NE(key.error().message.find("error:"), std::string::npos) << key.error().message;
}

TEST(PkiTest, EncryptedKeyIsRefusedWithoutPrompting) {
  auto key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  BIO* bio = BIO_new(BIO_s_mem());
  const char pass[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, key->get(), EVP_aes_128_cbc(), pass, sizeof pass - 1,
                                          nullptr, nullptr),
            1);
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  const std::string pem(mem->data, mem->length);
  BIO_free(bio);
  EXPECT_FALSE(PrivateKey::from_pem(pem).ok());
}

TEST(PkiTest, BadSpecsAreRejected) {
  auto ca = generate_ca(ca_spec());
  ASSERT_TRUE(ca.ok());
  CertificateSpec bad_ip = server_spec();
  bad_ip.ip_addresses = {"300.1.2.3"};
  auto r = generate_signed(bad_ip, *ca);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_NE(r.error().message.find("300.1.2.3"), std::string::npos);

  auto other = generate_ca(ca_spec());
  ASSERT_TRUE(other.ok());
  auto key = PrivateKey::generate(KeyType::kEcP256);
  ASSERT_TRUE(key.ok());
  EXPECT_FALSE(sign_certificate(server_spec(), *key, ca->cert, other->key).ok());

  // A leaf from another CA does not verify against this one.
  auto stranger = generate_signed(server_spec(), *other);
  ASSERT_TRUE(stranger.ok());
  EXPECT_FALSE(verify_certificate(stranger->cert, {ca->cert}).ok());
}

TEST(PkiTest, Base64RoundTrip) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto decoded = base64_decode(base64_encode(s));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, s);
  }
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
  auto wrapped = base64_decode("aGVs\nbG8=\n");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(*wrapped, "hello");
  EXPECT_FALSE(base64_decode("abc").ok());
  EXPECT_FALSE(base64_decode("a*b=").ok());
}

TEST(PkiTest, RandomAlphanumericHasTheLengthAndAlphabetAndVaries) {
  auto a = random_alphanumeric(24);
  auto b = random_alphanumeric(24);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 24u);
  EXPECT_TRUE(std::all_of(a->begin(), a->end(), [](char c) { return std::isalnum(c) != 0; })) << *a;
  EXPECT_NE(*a, *b);
  EXPECT_EQ(random_alphanumeric(0)->size(), 0u);
  // Every character of the alphabet turns up (62 characters, 62,000 draws).
  auto many = random_alphanumeric(62'000);
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(std::set<char>(many->begin(), many->end()).size(), 62u);
}

}  // namespace
}  // namespace orderguard::kube
