#include "policy/pod_context.h"

#include <map>

#include "policy/workload.h"

namespace orderguard::policy {
namespace {

using nlohmann::json;

const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string string_member(const json& object, std::string_view key) {
  const json* v = member(object, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

std::string indexed(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

// Appends the string elements of object[key] (an array) to tokens, with their paths.
void append_strings(const json& object, std::string_view key, const std::string& path,
                    std::vector<std::string>* tokens, std::vector<std::string>* paths) {
  const json* list = member(object, key);
  if (list == nullptr || !list->is_array()) return;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& item = (*list)[i];
    if (!item.is_string()) continue;
    tokens->push_back(item.get<std::string>());
    paths->push_back(indexed(path, i));
  }
}

void add_text_site(std::string container, std::vector<std::string> tokens,
                   std::vector<std::string> paths, std::vector<bool> expanded,
                   std::vector<TextSite>* out) {
  if (tokens.empty()) return;
  if (expanded.empty()) expanded.assign(tokens.size(), false);
  out->push_back(TextSite{std::move(container), std::move(paths), std::move(expanded),
                          TokenLine(std::move(tokens))});
}

// An exec handler ({exec: {command: [...]}}) under container[key].
void add_exec_site(const json& container, std::string_view key, const std::string& name,
                   const std::string& path, std::vector<TextSite>* out) {
  const json* handler = member(container, key);
  if (handler == nullptr) return;
  const json* exec = member(*handler, "exec");
  if (exec == nullptr) return;
  std::vector<std::string> tokens;
  std::vector<std::string> paths;
  append_strings(*exec, "command", path + "." + std::string(key) + ".exec.command", &tokens,
                 &paths);
  add_text_site(name, std::move(tokens), std::move(paths), {}, out);
}

bool is_root_path(std::string_view p) {
  if (p.empty() || p.front() != '/') return false;
  // "/", "//", "/.", "/./" all name the root.
  return p.find_first_not_of("/.") == std::string_view::npos &&
         p.find("..") == std::string_view::npos;
}

void collect_container(const json& c, const std::string& path, PodContext* ctx) {
  std::string name = string_member(c, "name");

  if (const json* image = member(c, "image"); image != nullptr && image->is_string()) {
    ImageSite site;
    site.container = name;
    site.field_path = path + ".image";
    site.reference = image->get<std::string>();
    if (!site.reference.empty()) {
      Result<ImageRef> ref = parse_image_ref(site.reference);
      if (ref.ok()) {
        site.ref = std::move(ref).value();
      } else {
        site.error = ref.error().message;
      }
      ctx->images.push_back(std::move(site));
    }
  }

  // env: each literal value is a site of its own, expanded against the variables defined
  // before it (Kubernetes semantics); all literal values feed the command/args expansion.
  std::map<std::string, std::string, std::less<>> vars;
  if (const json* env = member(c, "env"); env != nullptr && env->is_array()) {
    for (size_t i = 0; i < env->size(); ++i) {
      const json& e = (*env)[i];
      std::string var = string_member(e, "name");
      const json* value = member(e, "value");
      if (value == nullptr || !value->is_string()) continue;
      std::string raw = value->get<std::string>();
      std::string expanded = expand_kube_vars(raw, vars);
      bool changed = expanded != raw;
      if (!var.empty()) vars[var] = expanded;
      add_text_site(name, {expanded}, {indexed(path + ".env", i) + ".value"}, {changed},
                    &ctx->texts);
    }
  }

  std::vector<std::string> tokens;
  std::vector<std::string> paths;
  append_strings(c, "command", path + ".command", &tokens, &paths);
  append_strings(c, "args", path + ".args", &tokens, &paths);
  std::vector<bool> expanded(tokens.size(), false);
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string e = expand_kube_vars(tokens[i], vars);
    if (e != tokens[i]) {
      tokens[i] = std::move(e);
      expanded[i] = true;
    }
  }
  add_text_site(name, std::move(tokens), std::move(paths), std::move(expanded), &ctx->texts);

  if (const json* lifecycle = member(c, "lifecycle")) {
    add_exec_site(*lifecycle, "postStart", name, path + ".lifecycle", &ctx->texts);
    add_exec_site(*lifecycle, "preStop", name, path + ".lifecycle", &ctx->texts);
  }
  for (std::string_view probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    if (const json* p = member(c, probe)) {
      std::vector<std::string> probe_tokens;
      std::vector<std::string> probe_paths;
      if (const json* exec = member(*p, "exec")) {
        append_strings(*exec, "command", path + "." + std::string(probe) + ".exec.command",
                       &probe_tokens, &probe_paths);
      }
      add_text_site(name, std::move(probe_tokens), std::move(probe_paths), {}, &ctx->texts);
    }
  }

  if (const json* sc = member(c, "securityContext")) {
    if (const json* priv = member(*sc, "privileged");
        priv != nullptr && priv->is_boolean() && priv->get<bool>()) {
      ctx->privileged.emplace_back(name, path + ".securityContext.privileged");
    }
  }
}

void collect_metadata(const json& object, PodContext* ctx) {
  const json* md = member(object, "metadata");
  if (md == nullptr) return;
  ctx->namespace_name = string_member(*md, "namespace");
  ctx->name = string_member(*md, "name");
  if (const json* owners = member(*md, "ownerReferences");
      owners != nullptr && owners->is_array()) {
    for (size_t i = 0; i < owners->size(); ++i) {
      const json& o = (*owners)[i];
      ctx->owners.push_back(OwnerRef{string_member(o, "kind"), string_member(o, "name"),
                                     indexed("metadata.ownerReferences", i)});
    }
  }
  if (const json* labels = member(*md, "labels")) {
    ctx->pod_template_hash = string_member(*labels, "pod-template-hash");
  }
}

}  // namespace

Result<PodContext> collect_pod_context(const nlohmann::json& object, std::string_view kind) {
  Result<PodSpecView> view = pod_spec_of(object, kind);
  if (!view.ok()) return view.error();
  const json& spec = *view->spec;

  PodContext ctx;
  ctx.kind = std::string(kind);
  ctx.pod_path = view->path;
  collect_metadata(object, &ctx);
  ctx.service_account = string_member(spec, "serviceAccountName");
  if (ctx.service_account.empty()) ctx.service_account = string_member(spec, "serviceAccount");
  if (ctx.service_account.empty()) ctx.service_account = "default";

  for (std::string_view list : {"initContainers", "containers", "ephemeralContainers"}) {
    const json* containers = member(spec, list);
    if (containers == nullptr || containers->is_null()) continue;
    std::string base = ctx.pod_path + "." + std::string(list);
    // The API server never sends these shapes; anything that does is refused
    // rather than skipped, so a malformed list cannot hide a container.
    if (!containers->is_array()) {
      return make_error(ErrorCode::kInvalid, base + ": must be a list of containers");
    }
    for (size_t i = 0; i < containers->size(); ++i) {
      const json& c = (*containers)[i];
      if (!c.is_object()) {
        return make_error(ErrorCode::kInvalid, indexed(base, i) + ": must be a container object");
      }
      collect_container(c, indexed(base, i), &ctx);
    }
  }

  if (const json* volumes = member(spec, "volumes"); volumes != nullptr && volumes->is_array()) {
    for (size_t i = 0; i < volumes->size(); ++i) {
      const json& v = (*volumes)[i];
      std::string path = indexed(ctx.pod_path + ".volumes", i);
      if (const json* image = member(v, "image")) {
        std::string reference = string_member(*image, "reference");
        if (!reference.empty()) {
          ImageSite site;
          site.field_path = path + ".image.reference";
          site.reference = reference;
          Result<ImageRef> ref = parse_image_ref(reference);
          if (ref.ok()) {
            site.ref = std::move(ref).value();
          } else {
            site.error = ref.error().message;
          }
          ctx.images.push_back(std::move(site));
        }
      }
      if (const json* host_path = member(v, "hostPath")) {
        if (ctx.host_root_volume_path.empty() && is_root_path(string_member(*host_path, "path"))) {
          ctx.host_root_volume_path = path + ".hostPath.path";
        }
      }
    }
  }
  if (const json* pid = member(spec, "hostPID"); pid != nullptr && pid->is_boolean()) {
    ctx.host_pid = pid->get<bool>();
  }
  return ctx;
}

PodContext collect_exec_context(const nlohmann::json& pod_exec_options) {
  PodContext ctx;
  ctx.kind = "PodExecOptions";
  std::vector<std::string> tokens;
  std::vector<std::string> paths;
  append_strings(pod_exec_options, "command", "command", &tokens, &paths);
  add_text_site(string_member(pod_exec_options, "container"), std::move(tokens), std::move(paths),
                {}, &ctx.texts);
  return ctx;
}

}  // namespace orderguard::policy
