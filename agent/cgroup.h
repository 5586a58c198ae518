// Process to pod: /proc/<pid>/cgroup to a container id and pod UID, and a container id to a
// pod of this node.
//
// Layouts recognised (the kubelet's cgroupfs and systemd drivers with containerd, CRI-O and
// Docker), on cgroup v1, v2 and hybrid hosts:
//   systemd driver   .../kubepods-burstable-pod<uid_with_underscores>.slice/
//                    cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
//                    ...slice:cri-containerd:<id> (containerd without SystemdCgroup)
//   cgroupfs driver  /kubepods[/burstable|/besteffort]/pod<uid>/<id> | .../crio-<id>
//   plain docker     /docker/<id>, /system.slice/docker-<id>.scope
// Leading "/.." components (the reader is inside a cgroup namespace) are stripped. Container
// ids are 64 hex digits. The first (outermost) container on a path wins, so Docker-in-Docker
// inside a pod maps to the pod's container. Pod UIDs are UUIDs (underscores from systemd
// slice names turned back into dashes) or the 32-hex config hash of a static pod.
// Line preference: the v2 line (0::) when it names a container, then v1 lines in file order.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderguard::agent {

struct CgroupLine {
  int hierarchy = 0;
  std::string controllers;  // empty for the v2 line
  std::string path;
};

// Malformed lines are skipped.
std::vector<CgroupLine> parse_cgroup_file(std::string_view text);

// The path with leading "/.." components removed.
std::string strip_cgroup_namespace_prefix(std::string_view path);

struct ContainerRef {
  std::string runtime;       // containerd, cri-o, docker, podman; empty when unknown
  std::string container_id;  // 64 hex, lowercase
  std::string pod_uid;       // dashes
  std::string cgroup_path;   // the path it was found in, namespace prefix stripped

  bool empty() const { return container_id.empty() && pod_uid.empty(); }
};

// From one cgroup path.
ContainerRef container_from_cgroup_path(std::string_view path);
// From a whole /proc/<pid>/cgroup file; empty when the process is not in a container.
ContainerRef container_from_cgroup(std::string_view text);

struct PodMatch {
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::string container_name;  // empty when matched by pod UID only
  std::string image;
  std::string image_id;    // the digest reference from the container status
  std::string matched_by;  // "container-id" or "pod-uid"
};

// Pure: the pod among `pods` (a JSON array of Pod objects, or a PodList) whose container
// statuses (containers, initContainers, ephemeralContainers) carry `ref.container_id`
// ("containerd://<id>", "cri-o://<id>", "docker://<id>"), else whose metadata.uid (or, for a
// static pod, kubernetes.io/config.hash annotation) equals ref.pod_uid.
std::optional<PodMatch> match_pod(const nlohmann::json& pods, const ContainerRef& ref);

}  // namespace orderguard::agent
