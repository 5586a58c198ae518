#include "policy/workload.h"

#include <array>

namespace orderguard::policy {
namespace {

struct KindPath {
  std::string_view kind;
  std::array<std::string_view, 4> template_path;  // keys down to the pod template
  size_t depth;
};

// The keys from the object down to the pod template (an object with metadata and spec); for
// a Pod the object itself plays that role.
constexpr KindPath kKinds[] = {
    {"Pod", {}, 0},
    {"Deployment", {"spec", "template"}, 2},
    {"StatefulSet", {"spec", "template"}, 2},
    {"DaemonSet", {"spec", "template"}, 2},
    {"ReplicaSet", {"spec", "template"}, 2},
    {"ReplicationController", {"spec", "template"}, 2},
    {"Job", {"spec", "template"}, 2},
    {"CronJob", {"spec", "jobTemplate", "spec", "template"}, 4},
    {"PodTemplate", {"template"}, 1},
};

const KindPath* find_kind(std::string_view kind) {
  for (const KindPath& k : kKinds) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

}  // namespace

bool has_pod_spec(std::string_view kind) { return find_kind(kind) != nullptr; }

Result<PodSpecView> pod_spec_of(JsonRef object, std::string_view kind) {
  const KindPath* k = find_kind(kind);
  if (k == nullptr) {
    return make_error(ErrorCode::kInvalid, "kind " + std::string(kind) + " has no pod template");
  }
  if (!object.is_object()) return make_error(ErrorCode::kInvalid, "object is not a JSON object");
  JsonRef node = object;
  std::string prefix;
  for (size_t i = 0; i < k->depth; ++i) {
    JsonRef next = node.find(k->template_path[i]);
    if (!prefix.empty()) prefix += '.';
    prefix += k->template_path[i];
    if (!next.is_object()) {
      return make_error(ErrorCode::kInvalid, std::string(kind) + " has no object at " + prefix);
    }
    node = next;
  }
  PodSpecView view;
  std::string dot = prefix.empty() ? "" : prefix + ".";
  view.path = dot + "spec";
  view.metadata_path = dot + "metadata";
  view.spec = node.find("spec");
  if (!view.spec.is_object()) {
    return make_error(ErrorCode::kInvalid, std::string(kind) + " has no object at " + view.path);
  }
  if (JsonRef md = node.find("metadata"); md.is_object()) view.metadata = md;
  return view;
}

std::string expand_kube_vars(std::string_view input,
                             const std::map<std::string, std::string, std::less<>>& vars,
                             size_t max_bytes) {
  std::string out;
  size_t checkpoint = 0;
  for (size_t cursor = 0; cursor < input.size(); ++cursor) {
    if (out.size() > max_bytes) break;
    if (input[cursor] != '$' || cursor + 1 >= input.size()) continue;
    out.append(input.substr(checkpoint, cursor - checkpoint));
    std::string_view rest = input.substr(cursor + 1);
    size_t advance = 1;
    if (rest[0] == '$') {
      out += '$';
    } else if (rest[0] == '(') {
      size_t close = rest.find(')');
      if (close == std::string_view::npos) {
        out += "$(";
      } else {
        std::string_view name = rest.substr(1, close - 1);
        auto it = vars.find(name);
        if (it != vars.end()) {
          out += it->second;
        } else {
          out += "$(";
          out.append(name);
          out += ')';
        }
        advance = close + 1;
      }
    } else {
      out += '$';
      out += rest[0];
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  if (checkpoint < input.size()) out.append(input.substr(checkpoint));
  return out;
}

}  // namespace orderguard::policy
