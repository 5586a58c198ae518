// Where the pod spec lives in each kind that carries one (the Kubernetes API types):
//
//   Pod                                                     spec
//   Deployment, StatefulSet, DaemonSet, ReplicaSet,
//   ReplicationController, Job                              spec.template.spec
//   CronJob                                                 spec.jobTemplate.spec.template.spec
//   PodTemplate                                             template.spec
//
// Contract: pod_spec_of never throws. An unknown kind, or an object without a pod spec object
// at the expected path, is ErrorCode::kInvalid. The returned refs point into `object`'s
// document and live as long as it does.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/json_doc.h"
#include "base/result.h"

namespace orderguard::policy {

struct PodSpecView {
  JsonRef spec;               // the PodSpec (an object)
  JsonRef metadata;           // pod or template metadata; invalid when absent
  std::string path;           // JSON path of spec, e.g. "spec.template.spec"
  std::string metadata_path;  // e.g. "spec.template.metadata"
};

bool has_pod_spec(std::string_view kind);

Result<PodSpecView> pod_spec_of(JsonRef object, std::string_view kind);

// Kubernetes $(VAR) expansion of command, args and env values
// (third_party/forked/golang/expansion): $(NAME) becomes the value of NAME when defined and
// stays as is otherwise, $$ is a literal $. A miner can spread a pool URL over env vars and
// join them in args; scanning the expanded text finds it. Output is capped at `max_bytes`
// (the rest is copied unexpanded) so references to large values cannot blow up memory.
std::string expand_kube_vars(std::string_view input,
                             const std::map<std::string, std::string, std::less<>>& vars,
                             size_t max_bytes = 64 * 1024);

}  // namespace orderguard::policy
