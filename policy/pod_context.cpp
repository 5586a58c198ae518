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
  std::string out;
  out.reserve(path.size() + 16);
  out.append(path);
  out += '[';
  out += std::to_string(i);
  out += ']';
  return out;
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

void add_text_site(const std::string& container, std::vector<std::string> tokens,
                   std::vector<std::string> paths, std::vector<bool> expanded,
                   std::vector<TextSite>* out) {
  if (tokens.empty()) return;
  if (expanded.empty()) expanded.assign(tokens.size(), false);
  out->push_back(
      TextSite{container, std::move(paths), std::move(expanded), TokenLine(std::move(tokens))});
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

// Whether a string of `list` (an array; of strings, or of objects whose `field` is read)
// contains '$'.
bool has_dollar(const json* list, const char* field) {
  if (list == nullptr || !list->is_array()) return false;
  for (const json& item : *list) {
    const json* v = field == nullptr ? &item : member(item, field);
    if (v != nullptr && v->is_string() &&
        v->get_ref<const std::string&>().find('$') != std::string::npos) {
      return true;
    }
  }
  return false;
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
  const json* env = member(c, "env");
  // vars are only read to expand a string with a '$' in it: without any, skip them.
  const bool needs_vars = has_dollar(env, "value") || has_dollar(member(c, "command"), nullptr) ||
                          has_dollar(member(c, "args"), nullptr);
  if (env != nullptr && env->is_array()) {
    const std::string env_path = path + ".env";
    for (size_t i = 0; i < env->size(); ++i) {
      const json& e = (*env)[i];
      const json* value = member(e, "value");
      if (value == nullptr || !value->is_string()) continue;
      const std::string& raw = value->get_ref<const std::string&>();
      // Without '$' there is nothing to expand (expand_kube_vars is the identity).
      std::string expanded = raw.find('$') == std::string::npos ? raw : expand_kube_vars(raw, vars);
      bool changed = expanded != raw;
      if (const json* var = member(e, "name"); var != nullptr && var->is_string()) {
        const std::string& var_name = var->get_ref<const std::string&>();
        if (needs_vars && !var_name.empty()) vars.insert_or_assign(var_name, expanded);
      }
      std::string value_path = indexed(env_path, i);
      value_path += ".value";
      std::vector<std::string> tokens;
      tokens.push_back(std::move(expanded));
      std::vector<std::string> paths;
      paths.push_back(std::move(value_path));
      add_text_site(name, std::move(tokens), std::move(paths), {changed}, &ctx->texts);
    }
  }

  std::vector<std::string> tokens;
  std::vector<std::string> paths;
  append_strings(c, "command", path + ".command", &tokens, &paths);
  append_strings(c, "args", path + ".args", &tokens, &paths);
  std::vector<bool> expanded(tokens.size(), false);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].find('$') == std::string::npos) continue;  // nothing to expand
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

  // One allocation for the text sites: an env value each, plus command line, hooks and
  // probes per container.
  size_t sites = 0;
  for (std::string_view list : {"initContainers", "containers", "ephemeralContainers"}) {
    const json* containers = member(spec, list);
    if (containers == nullptr || !containers->is_array()) continue;
    for (const json& c : *containers) {
      const json* env = member(c, "env");
      sites += 6 + (env != nullptr && env->is_array() ? env->size() : 0);
    }
  }
  ctx.texts.reserve(sites);

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
