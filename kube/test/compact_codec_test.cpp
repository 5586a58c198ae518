#include "kube/compact_codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace orderguard::kube {
namespace {

using nlohmann::json;

// A server-side Deployment as the operator caches it: every sibling differs in
// its name, zone, UIDs and resourceVersion only.
std::string deployment_cbor(int i, const std::string& zone) {
  const json labels = {{"app.kubernetes.io/name", "orders"},
                       {"app.kubernetes.io/instance", "orders-" + std::to_string(i)},
                       {"app.kubernetes.io/managed-by", "orderguard-operator"},
                       {"tiers.orderguard.io/zone", zone}};
  const json d = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata",
       {{"name", "orders-" + std::to_string(i) + "-" + zone},
        {"namespace", "shop"},
        {"uid", "0b6a1c9e-2f1d-4c59-9a41-" + std::to_string(100000000000 + i * 7919)},
        {"resourceVersion", std::to_string(40000 + i * 13)},
        {"labels", labels},
        {"ownerReferences",
         json::array({{{"apiVersion", "tiers.orderguard.io/v1alpha1"},
                       {"kind", "OrderService"},
                       {"name", "orders-" + std::to_string(i)},
                       {"uid", "5d0c7e11-8a4b-4f6e-b3a2-" + std::to_string(200000000000 + i)},
                       {"controller", true}}})}}},
      {"spec",
       {{"replicas", 4},
        {"selector", {{"matchLabels", labels}}},
        {"template",
         {{"metadata", {{"labels", labels}}},
          {"spec",
           {{"containers",
             json::array({{{"name", "app"},
                           {"image", "registry.example/orders:1.4.2"},
                           {"terminationMessagePath", "/dev/termination-log"},
                           {"imagePullPolicy", "IfNotPresent"}}})},
            {"nodeSelector", {{"topology.kubernetes.io/zone", zone}}},
            {"dnsPolicy", "ClusterFirst"},
            {"schedulerName", "default-scheduler"}}}}},
        {"strategy",
         {{"type", "RollingUpdate"},
          {"rollingUpdate", {{"maxUnavailable", "25%"}, {"maxSurge", "25%"}}}}}}},
      {"status", {{"availableReplicas", i % 5}}}};
  std::string out;
  json::to_cbor(d, out);
  return out;
}

TEST(CompactCodec, RoundTripsWithAndWithoutADictionary) {
  const CompactDictionary dict{deployment_cbor(0, "zone-a")};
  for (const CompactDictionary* d : {static_cast<const CompactDictionary*>(nullptr), &dict}) {
    for (const std::string& data : {std::string(), std::string("x"), deployment_cbor(7, "zone-c"),
                                    std::string(300000, 'q')}) {
      std::vector<uint8_t> packed;
      ASSERT_TRUE(compact_encode(data, d, &packed));
      std::string back;
      ASSERT_TRUE(compact_decode(packed, d, &back));
      EXPECT_EQ(back, data);
    }
  }
}

// What the cache is for: a sibling deflated against the first object keeps a
// small fraction of its bytes, far less than deflate alone makes of it.
TEST(CompactCodec, ASiblingDeflatesToAFractionAgainstTheFirstObject) {
  const CompactDictionary dict{deployment_cbor(0, "zone-a")};
  const std::string sibling = deployment_cbor(421, "zone-b");
  std::vector<uint8_t> alone;
  std::vector<uint8_t> against;
  ASSERT_TRUE(compact_encode(sibling, nullptr, &alone));
  ASSERT_TRUE(compact_encode(sibling, &dict, &against));
  EXPECT_LT(against.size() * 5, sibling.size()) << against.size() << " of " << sibling.size();
  EXPECT_LT(against.size() * 2, alone.size()) << against.size() << " vs " << alone.size();
}

// Random bytes (incompressible) and data longer than deflate's window.
TEST(CompactCodec, RoundTripsIncompressibleAndLongData) {
  std::mt19937 rng(7);
  std::string noise(100000, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  const CompactDictionary dict{noise.substr(0, 50000)};  // longer than the 32 KiB used
  std::vector<uint8_t> packed;
  ASSERT_TRUE(compact_encode(noise, &dict, &packed));
  std::string back;
  ASSERT_TRUE(compact_decode(packed, &dict, &back));
  EXPECT_EQ(back, noise);
}

// Bytes it did not make are refused, not crashed on; a truncated stream too.
TEST(CompactCodec, RefusesBytesItDidNotMake) {
  const CompactDictionary dict{deployment_cbor(0, "zone-a")};
  std::vector<uint8_t> packed;
  ASSERT_TRUE(compact_encode(deployment_cbor(3, "zone-b"), &dict, &packed));
  std::string out;
  std::vector<uint8_t> truncated(packed.begin(), packed.begin() + packed.size() / 2);
  EXPECT_FALSE(compact_decode(truncated, &dict, &out));
  EXPECT_FALSE(compact_decode(std::vector<uint8_t>(64, 0xff), &dict, &out));
  EXPECT_FALSE(compact_decode({}, &dict, &out));
}

// The shared zlib states are used from every informer and reader thread.
TEST(CompactCodec, ConcurrentUseRoundTrips) {
  const CompactDictionary dict{deployment_cbor(0, "zone-a")};
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string data = deployment_cbor(t * 1000 + i, "zone-b");
        std::vector<uint8_t> packed;
        std::string back;
        if (!compact_encode(data, &dict, &packed) || !compact_decode(packed, &dict, &back) ||
            back != data) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace orderguard::kube
