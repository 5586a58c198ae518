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
// - The object is read through JsonRef (the webhook's index of the request, with no
//   copy of the request). The PodContext owns what it keeps and does not refer to the object
//   afterwards.
// - Field paths of text tokens are built only when asked for (token_path), which is only
//   when a rule reports something: most requests report nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_doc.h"
#include "base/result.h"
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

// One text of a container: its command line (command then args), one env value, one exec
// hook or exec probe. Token i of `line` lives at PodContext::token_path(site, i).
struct TextSite {
  // The line is built in place: a TextSite is made once per text of every request.
  TextSite(std::string_view container_name, uint32_t base_index, std::string_view field_suffix,
           std::span<const std::string_view> tokens)
      : container(container_name), base(base_index), field(field_suffix), line(tokens) {}

  std::string container;
  uint32_t base = 0;        // PodContext::bases index: the container's field path
  std::string_view field;   // static suffix: ".command", ".env", ".livenessProbe.exec.command"
  std::string_view field2;  // ".args" for a command line: tokens from `split` on are args
  uint32_t split = UINT32_MAX;
  int32_t env_index = -1;  // an env value: the one token is <base>.env[env_index].value
  std::vector<uint32_t> expanded_tokens;  // tokens changed by $(VAR) expansion (usually none)
  TokenLine line;

  bool expanded(size_t token) const;
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
  std::vector<std::string> bases;  // field path of each container ("spec.containers[0]")
  // host-escape inputs.
  bool host_pid = false;
  std::vector<std::pair<std::string, std::string>> privileged;  // (container, field path)
  std::string host_root_volume_path;  // field path of a hostPath volume of "/", or empty

  // "spec.containers[0].args[3]", "spec.containers[0].env[2].value", "command[1]".
  std::string token_path(const TextSite& site, size_t token) const;
};

// For any kind with a pod spec (workload.h); kInvalid otherwise.
Result<PodContext> collect_pod_context(JsonRef object, std::string_view kind);

// For pods/exec CONNECT: the PodExecOptions object's command, as one text site
// ("command[i]"), so `kubectl exec ... -- xmrig` meets the same signature rules.
PodContext collect_exec_context(JsonRef pod_exec_options);

}  // namespace orderguard::policy
