#include "agent/cgroup.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/host_view.h"
#include "agent/test/test_util.h"

namespace orderguard::agent {
namespace {

using testing::testdata;

nlohmann::json load(const std::string& rel) {
  Result<std::string> text = HostView::read_file(testdata(rel));
  EXPECT_TRUE(text.ok()) << rel;
  return nlohmann::json::parse(text.ok() ? *text : "null");
}

TEST(Cgroup, Vectors) {
  nlohmann::json vectors = load("cgroup_vectors.json");
  ASSERT_TRUE(vectors.is_array());
  ASSERT_GE(vectors.size(), 15u);
  for (const nlohmann::json& v : vectors) {
    SCOPED_TRACE(v.at("name").get<std::string>());
    ContainerRef ref = container_from_cgroup(v.at("cgroup").get<std::string>());
    EXPECT_EQ(ref.runtime, v.at("runtime").get<std::string>());
    EXPECT_EQ(ref.container_id, v.at("container_id").get<std::string>());
    EXPECT_EQ(ref.pod_uid, v.at("pod_uid").get<std::string>());
  }
}

TEST(Cgroup, ParseLines) {
  std::vector<CgroupLine> lines =
      parse_cgroup_file("12:pids:/a\n1:name=systemd:/b:c\n0::/\ngarbage\nx:y:/z\n3:cpu:relative\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].controllers, "pids");
  EXPECT_EQ(lines[1].path, "/b:c");
  EXPECT_EQ(lines[2].hierarchy, 0);
  EXPECT_TRUE(lines[2].controllers.empty());
}

TEST(Cgroup, StripNamespacePrefix) {
  EXPECT_EQ(strip_cgroup_namespace_prefix("/../../kubepods/x"), "/kubepods/x");
  EXPECT_EQ(strip_cgroup_namespace_prefix("/.."), "/");
  EXPECT_EQ(strip_cgroup_namespace_prefix("/..x/y"), "/..x/y");
  EXPECT_EQ(strip_cgroup_namespace_prefix("/a/../b"), "/a/../b");
}

TEST(MatchPod, ByContainerIdThenPodUid) {
  nlohmann::json pods = load("pods.json");
  ContainerRef ref;
  ref.container_id = "4e0f1b7c2a9d8e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
  ref.pod_uid = "ac04f3f2-1f2c-11e9-b015-1ebee232acfa";
  std::optional<PodMatch> m = match_pod(pods, ref);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->namespace_name, "shop");
  EXPECT_EQ(m->name, "web-7d4b9c-abcde");
  EXPECT_EQ(m->container_name, "app");
  EXPECT_EQ(m->image_id,
            "docker.io/library/"
            "python@sha256:1111111111111111111111111111111111111111111111111111111111111111");
  EXPECT_EQ(m->matched_by, "container-id");

  // An init container's id.
  ref.container_id = "99990000aaaabbbbccccddddeeeeffff00001111222233334444555566667777";
  m = match_pod(pods, ref);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->container_name, "setup");

  // An id the statuses do not carry yet (container just started): the pod UID decides.
  ref.container_id = std::string(64, 'a');
  m = match_pod(pods, ref);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->name, "web-7d4b9c-abcde");
  EXPECT_EQ(m->matched_by, "pod-uid");
  EXPECT_TRUE(m->container_name.empty());

  // A static pod: the cgroup carries the config hash, the mirror pod its annotation.
  ContainerRef stat;
  stat.pod_uid = "bd12dd3393227d950605a2444b13c27a";
  m = match_pod(pods, stat);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->name, "etcd-node1");

  ContainerRef none;
  none.pod_uid = "00000000-0000-0000-0000-000000000000";
  EXPECT_FALSE(match_pod(pods, none).has_value());
  EXPECT_FALSE(match_pod(pods, ContainerRef{}).has_value());
  EXPECT_FALSE(match_pod(nlohmann::json("junk"), ref).has_value());
  // A PodList works as well as an array.
  EXPECT_TRUE(match_pod(nlohmann::json{{"items", pods}}, ref).has_value());
}

}  // namespace
}  // namespace orderguard::agent
