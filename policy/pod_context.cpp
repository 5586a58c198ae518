#include "policy/pod_context.h"

#include <algorithm>
#include <array>
#include <map>

#include "policy/workload.h"

namespace orderguard::policy {
namespace {

void append_index(std::string* out, size_t i) {
  *out += '[';
  *out += std::to_string(i);
  *out += ']';
}

std::string indexed(std::string_view path, size_t i) {
  std::string out;
  out.reserve(path.size() + 8);
  out.append(path);
  append_index(&out, i);
  return out;
}

// The strings of `list` (an array). Anything else becomes an empty token rather than being
// skipped, so token i stays element i and its field path is right.
void append_strings(JsonRef list, std::vector<std::string_view>* tokens) {
  if (!list.is_array()) return;
  for (JsonRef item : list) tokens->push_back(item.string());
}

void add_text_site(std::string_view container, uint32_t base, std::string_view field,
                   std::span<const std::string_view> tokens, std::vector<TextSite>* out) {
  if (tokens.empty()) return;
  out->emplace_back(container, base, field, tokens);
}

// An exec handler ({exec: {command: [...]}}) at container[key], `field` naming its path.
void add_exec_site(JsonRef handler, std::string_view container, uint32_t base,
                   std::string_view field, std::vector<std::string_view>* scratch,
                   std::vector<TextSite>* out) {
  if (!handler.is_object()) return;
  scratch->clear();
  append_strings(handler.find("exec").find("command"), scratch);
  add_text_site(container, base, field, *scratch, out);
}

// Whether a string of `list` (an array of strings) contains '$'.
bool has_dollar(JsonRef list) {
  if (!list.is_array()) return false;
  for (JsonRef item : list) {
    if (item.is_string() && item.string().find('$') != std::string_view::npos) return true;
  }
  return false;
}

bool is_root_path(std::string_view p) {
  if (p.empty() || p.front() != '/') return false;
  // "/", "//", "/.", "/./" all name the root.
  return p.find_first_not_of("/.") == std::string_view::npos &&
         p.find("..") == std::string_view::npos;
}

ImageSite image_site(std::string_view container, std::string field_path,
                     std::string_view reference) {
  ImageSite site;
  site.container = std::string(container);
  site.field_path = std::move(field_path);
  site.reference = std::string(reference);
  Result<ImageRef> ref = parse_image_ref(site.reference);
  if (ref.ok()) {
    site.ref = std::move(ref).value();
  } else {
    site.error = ref.error().message;
  }
  return site;
}

using Vars = std::map<std::string, std::string, std::less<>>;

// The members of a container that are read, found in one pass over its keys (a container
// has a dozen; one find() per field would scan them a dozen times). A repeated key keeps
// its last value, as find() does.
struct ContainerFields {
  JsonRef name, image, env, command, args, lifecycle, security_context;
  std::array<JsonRef, 3> probes;  // liveness, readiness, startup
};

ContainerFields container_fields(JsonRef c) {
  ContainerFields f;
  for (auto it = c.begin(); it != c.end(); ++it) {
    const std::string_view key = it.key();
    JsonRef* slot = nullptr;
    if (key == "name") {
      slot = &f.name;
    } else if (key == "image") {
      slot = &f.image;
    } else if (key == "env") {
      slot = &f.env;
    } else if (key == "command") {
      slot = &f.command;
    } else if (key == "args") {
      slot = &f.args;
    } else if (key == "lifecycle") {
      slot = &f.lifecycle;
    } else if (key == "securityContext") {
      slot = &f.security_context;
    } else if (key == "livenessProbe") {
      slot = &f.probes[0];
    } else if (key == "readinessProbe") {
      slot = &f.probes[1];
    } else if (key == "startupProbe") {
      slot = &f.probes[2];
    }
    if (slot != nullptr) *slot = *it;
  }
  return f;
}

void collect_container(JsonRef c, uint32_t base, PodContext* ctx,
                       std::vector<std::string_view>* scratch) {
  const ContainerFields fields = container_fields(c);
  const std::string_view name = fields.name.string();
  const std::string& path = ctx->bases[base];

  if (fields.image.is_string() && !fields.image.string().empty()) {
    ctx->images.push_back(image_site(name, path + ".image", fields.image.string()));
  }

  // env: each literal value is a site of its own, expanded against the variables defined
  // before it (Kubernetes semantics); all literal values feed the command/args expansion.
  const JsonRef env = fields.env;
  const JsonRef command = fields.command;
  const JsonRef args = fields.args;
  // vars are only read to expand a string with a '$' in it: without any, skip them. The
  // env values are not searched for '$' beforehand: the loop below starts over with vars
  // when it meets one (a second pass only for containers that use $(VAR) in env).
  bool needs_vars = has_dollar(command) || has_dollar(args);
  Vars vars;
  const size_t first_env_site = ctx->texts.size();
  for (bool again = env.is_array(); again;) {
    again = false;
    int32_t i = -1;
    for (JsonRef e : env) {
      ++i;
      JsonRef value = e.find("value");
      if (!value.is_string()) continue;
      const std::string_view raw = value.string();
      if (!needs_vars && raw.find('$') != std::string_view::npos) {
        ctx->texts.erase(ctx->texts.begin() + static_cast<ptrdiff_t>(first_env_site),
                         ctx->texts.end());
        needs_vars = true;
        again = true;
        break;
      }
      std::string expanded;
      bool changed = false;
      if (needs_vars) {
        // Without '$' there is nothing to expand (expand_kube_vars is the identity).
        expanded = raw.find('$') == std::string_view::npos ? std::string(raw)
                                                           : expand_kube_vars(raw, vars);
        changed = expanded != raw;
        if (std::string_view var = e.string_member("name"); !var.empty()) {
          vars.insert_or_assign(std::string(var), expanded);
        }
      }
      const std::string_view text = changed ? std::string_view(expanded) : raw;
      TextSite& site = ctx->texts.emplace_back(name, base, ".env", std::span(&text, 1));
      site.env_index = i;
      if (changed) site.expanded_tokens.push_back(0);
    }
  }

  // command and args: one line, $(VAR)-expanded.
  scratch->clear();
  append_strings(command, scratch);
  const size_t split = scratch->size();
  append_strings(args, scratch);
  if (!scratch->empty()) {
    std::vector<std::string> expansions;  // storage for expanded tokens
    std::vector<uint32_t> expanded_tokens;
    if (needs_vars) {
      expansions.reserve(scratch->size());
      for (size_t i = 0; i < scratch->size(); ++i) {
        std::string_view token = (*scratch)[i];
        if (token.find('$') == std::string_view::npos) continue;  // nothing to expand
        std::string e = expand_kube_vars(token, vars);
        if (e == token) continue;
        expansions.push_back(std::move(e));
        (*scratch)[i] = expansions.back();
        expanded_tokens.push_back(static_cast<uint32_t>(i));
      }
    }
    TextSite& site = ctx->texts.emplace_back(name, base, ".command", *scratch);
    site.field2 = ".args";
    site.split = static_cast<uint32_t>(split);
    site.expanded_tokens = std::move(expanded_tokens);
  }

  if (const JsonRef lifecycle = fields.lifecycle; lifecycle.is_object()) {
    add_exec_site(lifecycle.find("postStart"), name, base, ".lifecycle.postStart.exec.command",
                  scratch, &ctx->texts);
    add_exec_site(lifecycle.find("preStop"), name, base, ".lifecycle.preStop.exec.command", scratch,
                  &ctx->texts);
  }
  static constexpr std::array<std::string_view, 3> kProbeFields = {
      ".livenessProbe.exec.command", ".readinessProbe.exec.command", ".startupProbe.exec.command"};
  for (size_t i = 0; i < kProbeFields.size(); ++i) {
    add_exec_site(fields.probes[i], name, base, kProbeFields[i], scratch, &ctx->texts);
  }

  if (fields.security_context.find("privileged").boolean()) {
    ctx->privileged.emplace_back(std::string(name), path + ".securityContext.privileged");
  }
}

void collect_metadata(JsonRef object, PodContext* ctx) {
  const JsonRef md = object.find("metadata");
  if (!md.is_object()) return;
  ctx->namespace_name = std::string(md.string_member("namespace"));
  ctx->name = std::string(md.string_member("name"));
  if (JsonRef owners = md.find("ownerReferences"); owners.is_array()) {
    size_t i = 0;
    for (JsonRef o : owners) {
      ctx->owners.push_back(OwnerRef{std::string(o.string_member("kind")),
                                     std::string(o.string_member("name")),
                                     indexed("metadata.ownerReferences", i++)});
    }
  }
  ctx->pod_template_hash = std::string(md.find("labels").string_member("pod-template-hash"));
}

constexpr std::array<std::string_view, 3> kContainerLists = {"initContainers", "containers",
                                                             "ephemeralContainers"};

}  // namespace

bool TextSite::expanded(size_t token) const {
  return std::find(expanded_tokens.begin(), expanded_tokens.end(), token) != expanded_tokens.end();
}

std::string PodContext::token_path(const TextSite& site, size_t token) const {
  std::string out = site.base < bases.size() ? bases[site.base] : std::string();
  if (site.env_index >= 0) {
    out += site.field;
    append_index(&out, static_cast<size_t>(site.env_index));
    out += ".value";
  } else if (token >= site.split) {
    out += site.field2;
    append_index(&out, token - site.split);
  } else {
    out += site.field;
    append_index(&out, token);
  }
  return out;
}

Result<PodContext> collect_pod_context(JsonRef object, std::string_view kind) {
  Result<PodSpecView> view = pod_spec_of(object, kind);
  if (!view.ok()) return view.error();
  const JsonRef spec = view->spec;

  PodContext ctx;
  ctx.kind = std::string(kind);
  ctx.pod_path = view->path;
  collect_metadata(object, &ctx);
  ctx.service_account = std::string(spec.string_member("serviceAccountName"));
  if (ctx.service_account.empty()) {
    ctx.service_account = std::string(spec.string_member("serviceAccount"));
  }
  if (ctx.service_account.empty()) ctx.service_account = "default";

  // One allocation for the text sites: an env value each, plus command line, hooks and
  // probes per container.
  size_t sites = 0;
  size_t containers = 0;
  for (std::string_view list : kContainerLists) {
    for (JsonRef c : spec.find(list)) {
      sites += 6 + c.find("env").size();
      ++containers;
    }
  }
  ctx.texts.reserve(sites);
  ctx.bases.reserve(containers);

  std::vector<std::string_view> scratch;
  for (std::string_view list : kContainerLists) {
    const JsonRef containers_ref = spec.find(list);
    if (!containers_ref.valid() || containers_ref.is_null()) continue;
    std::string base = ctx.pod_path + "." + std::string(list);
    // The API server never sends these shapes; anything that does is refused
    // rather than skipped, so a malformed list cannot hide a container.
    if (!containers_ref.is_array()) {
      return make_error(ErrorCode::kInvalid, base + ": must be a list of containers");
    }
    size_t i = 0;
    for (JsonRef c : containers_ref) {
      if (!c.is_object()) {
        return make_error(ErrorCode::kInvalid, indexed(base, i) + ": must be a container object");
      }
      ctx.bases.push_back(indexed(base, i++));
      collect_container(c, static_cast<uint32_t>(ctx.bases.size() - 1), &ctx, &scratch);
    }
  }

  if (JsonRef volumes = spec.find("volumes"); volumes.is_array()) {
    size_t i = 0;
    for (JsonRef v : volumes) {
      const size_t index = i++;
      std::string_view reference = v.find("image").string_member("reference");
      if (!reference.empty()) {
        ctx.images.push_back(image_site(
            {}, indexed(ctx.pod_path + ".volumes", index) + ".image.reference", reference));
      }
      if (ctx.host_root_volume_path.empty()) {
        if (JsonRef host_path = v.find("hostPath");
            host_path.valid() && is_root_path(host_path.string_member("path"))) {
          ctx.host_root_volume_path = indexed(ctx.pod_path + ".volumes", index) + ".hostPath.path";
        }
      }
    }
  }
  ctx.host_pid = spec.find("hostPID").boolean();
  return ctx;
}

PodContext collect_exec_context(JsonRef pod_exec_options) {
  PodContext ctx;
  ctx.kind = "PodExecOptions";
  ctx.bases.emplace_back();
  std::vector<std::string_view> tokens;
  append_strings(pod_exec_options.find("command"), &tokens);
  add_text_site(pod_exec_options.string_member("container"), 0, "command", tokens, &ctx.texts);
  return ctx;
}

}  // namespace orderguard::policy
