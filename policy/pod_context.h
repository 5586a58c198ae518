// What the admission rules look at, read once per object: every image reference and every
// text of every container (command + args, env values, exec lifecycle hooks, exec probes)
// with its container name and field path, plus the facts quarantine and host-escape need.
//
// Contract:
// - Containers, initContainers and ephemeralContainers are all read; so are image volumes
//   (spec.volumes[].image.reference).
// - command and args form one line (a flag in command and its value in args are one match)
//   and are $(VAR)-expanded with the container's literal env values, as the kubelet does.
//   Exec hooks and probes are not expanded (the kubelet does not expand them).
// - env values are read from `value` only; valueFrom is resolved at run time and invisible
//   here.
// - Malformed parts (a container that is not an object, a non-string arg) are skipped: the
//   API server validates the schema, this only needs to never crash.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/result.h"
#include "policy/image_ref.h"
#include "policy/indicators.h"

namespace orderguard::policy {

struct ImageSite {
  std::string container;   // empty for an image volume
  std::string field_path;  // "spec.containers[0].image", "spec.volumes[2].image.reference"
  std::string reference;   // as written
  std::optional<ImageRef> ref;
  std::string error;  // why `reference` does not parse, when ref is empty
};

struct TextSite {
  std::string container;
  std::vector<std::string> token_paths;  // field path of each token of `line`
  std::vector<bool> expanded;            // token changed by $(VAR) expansion
  TokenLine line;
};

struct OwnerRef {
  std::string kind;
  std::string name;
  std::string field_path;  // "metadata.ownerReferences[0]"
};

struct PodContext {
  std::string kind;
  std::string namespace_name;
  std::string name;
  std::string pod_path;  // "spec", "spec.template.spec", ...
  std::vector<OwnerRef> owners;
  std::string pod_template_hash;  // label of a Pod created by a Deployment's ReplicaSet
  std::string service_account;    // serviceAccountName of the pod spec, "default" if unset
  std::vector<ImageSite> images;
  std::vector<TextSite> texts;
  // host-escape inputs.
  bool host_pid = false;
  std::vector<std::pair<std::string, std::string>> privileged;  // (container, field path)
  std::string host_root_volume_path;  // field path of a hostPath volume of "/", or empty
};

// For any kind with a pod spec (workload.h); kInvalid otherwise.
Result<PodContext> collect_pod_context(const nlohmann::json& object, std::string_view kind);

// For pods/exec CONNECT: the PodExecOptions object's command, as one text site
// ("command[i]"), so `kubectl exec ... -- xmrig` meets the same signature rules.
PodContext collect_exec_context(const nlohmann::json& pod_exec_options);

}  // namespace orderguard::policy
