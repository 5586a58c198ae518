#include "agent/cgroup.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "base/lines.h"

namespace orderguard::agent {
namespace {

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

bool is_container_id(std::string_view s) { return s.size() == 64 && is_hex(s); }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// "<prefix><id><suffix>" with a 64-hex id.
std::optional<std::string> id_between(std::string_view c, std::string_view prefix,
                                      std::string_view suffix) {
  if (c.size() != prefix.size() + 64 + suffix.size()) return std::nullopt;
  if (c.substr(0, prefix.size()) != prefix) return std::nullopt;
  if (c.substr(c.size() - suffix.size()) != suffix) return std::nullopt;
  std::string_view id = c.substr(prefix.size(), 64);
  if (!is_container_id(id)) return std::nullopt;
  return lower(id);
}

// "pod" + UUID (dashes or underscores) or 32 hex, at the start of the component or after '-'.
std::optional<std::string> pod_uid_in(std::string_view c) {
  size_t pos = 0;
  while ((pos = c.find("pod", pos)) != std::string_view::npos) {
    if (pos == 0 || c[pos - 1] == '-') {
      std::string_view rest = c.substr(pos + 3);
      size_t end = rest.find_first_of(".:");
      std::string_view cand = rest.substr(0, end);
      if (cand.size() == 36) {
        bool ok = true;
        for (size_t i = 0; i < 36 && ok; ++i) {
          bool sep = i == 8 || i == 13 || i == 18 || i == 23;
          ok = sep ? (cand[i] == '-' || cand[i] == '_')
                   : std::isxdigit(static_cast<unsigned char>(cand[i])) != 0;
        }
        if (ok) {
          std::string uid = lower(cand);
          std::replace(uid.begin(), uid.end(), '_', '-');
          return uid;
        }
      } else if (cand.size() == 32 && is_hex(cand)) {
        return lower(cand);
      }
    }
    pos += 3;
  }
  return std::nullopt;
}

struct IdMatch {
  std::string runtime;
  std::string id;
};

std::optional<IdMatch> container_in(std::string_view c, std::string_view parent) {
  struct Layout {
    std::string_view prefix;
    std::string_view suffix;
    std::string_view runtime;
  };
  static constexpr Layout kLayouts[] = {
      {"cri-containerd-", ".scope", "containerd"},
      {"crio-", ".scope", "cri-o"},
      {"crio-", "", "cri-o"},
      {"docker-", ".scope", "docker"},
      {"nerdctl-", ".scope", "containerd"},
      {"libpod-", ".scope", "podman"},
      {"libpod-", "", "podman"},
  };
  for (const Layout& l : kLayouts) {
    if (auto id = id_between(c, l.prefix, l.suffix)) return IdMatch{std::string(l.runtime), *id};
  }
  // containerd with the cgroupfs driver under a systemd slice: "<slice>:cri-containerd:<id>".
  if (size_t p = c.find(":cri-containerd:"); p != std::string_view::npos) {
    std::string_view id = c.substr(p + 16);
    if (is_container_id(id)) return IdMatch{"containerd", lower(id)};
  }
  if (is_container_id(c)) {
    // A bare id: /docker/<id>, or /kubepods/.../pod<uid>/<id> (cgroupfs driver).
    if (parent == "docker") return IdMatch{"docker", lower(c)};
    return IdMatch{parent.rfind("pod", 0) == 0 ? "containerd" : "", lower(c)};
  }
  return std::nullopt;
}

}  // namespace

std::vector<CgroupLine> parse_cgroup_file(std::string_view text) {
  std::vector<CgroupLine> out;
  TextLines lines(text);
  for (std::string_view line; lines.next(&line);) {
    size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    CgroupLine l;
    std::string_view id = line.substr(0, c1);
    auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), l.hierarchy);
    if (ec != std::errc() || p != id.data() + id.size()) continue;
    l.controllers = std::string(line.substr(c1 + 1, c2 - c1 - 1));
    // The path is everything after the second colon; it may itself contain colons.
    l.path = std::string(line.substr(c2 + 1));
    if (l.path.empty() || l.path.front() != '/') continue;
    out.push_back(std::move(l));
  }
  return out;
}

std::string strip_cgroup_namespace_prefix(std::string_view path) {
  while (path.substr(0, 3) == "/..") {
    if (path.size() == 3) return "/";
    if (path[3] != '/') break;
    path.remove_prefix(3);
  }
  return std::string(path);
}

ContainerRef container_from_cgroup_path(std::string_view raw) {
  ContainerRef ref;
  ref.cgroup_path = strip_cgroup_namespace_prefix(raw);
  std::vector<std::string_view> parts = components(ref.cgroup_path);
  std::string_view parent;
  for (std::string_view c : parts) {
    if (ref.pod_uid.empty()) {
      if (auto uid = pod_uid_in(c)) ref.pod_uid = *uid;
    }
    if (ref.container_id.empty()) {
      if (auto m = container_in(c, parent)) {
        ref.runtime = m->runtime;
        ref.container_id = m->id;
      }
    }
    parent = c;
  }
  return ref;
}

ContainerRef container_from_cgroup(std::string_view text) {
  std::vector<CgroupLine> lines = parse_cgroup_file(text);
  // The v2 line first: on a hybrid host it is often "0::/" while v1 lines carry the path.
  std::stable_partition(lines.begin(), lines.end(), [](const CgroupLine& l) {
    return l.hierarchy == 0 && l.controllers.empty();
  });
  ContainerRef pod_only;
  for (const CgroupLine& l : lines) {
    ContainerRef ref = container_from_cgroup_path(l.path);
    if (!ref.container_id.empty()) return ref;
    if (pod_only.pod_uid.empty() && !ref.pod_uid.empty()) pod_only = ref;
  }
  return pod_only;
}

std::optional<PodMatch> match_pod(const nlohmann::json& pods_in, const ContainerRef& ref) {
  const nlohmann::json* pods = &pods_in;
  if (pods_in.is_object() && pods_in.contains("items")) pods = &pods_in["items"];
  if (!pods->is_array() || ref.empty()) return std::nullopt;
  auto str = [](const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto base = [&](const nlohmann::json& pod, const char* by) {
    PodMatch m;
    const nlohmann::json& meta = pod.value("metadata", nlohmann::json::object());
    m.namespace_name = str(meta, "namespace");
    m.name = str(meta, "name");
    m.uid = str(meta, "uid");
    m.matched_by = by;
    return m;
  };
  if (!ref.container_id.empty()) {
    for (const nlohmann::json& pod : *pods) {
      if (!pod.is_object()) continue;
      const nlohmann::json status = pod.value("status", nlohmann::json::object());
      for (const char* list :
           {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}) {
        auto it = status.find(list);
        if (it == status.end() || !it->is_array()) continue;
        for (const nlohmann::json& cs : *it) {
          if (!cs.is_object()) continue;
          std::string cid = str(cs, "containerID");
          size_t sep = cid.find("://");
          if (sep == std::string::npos || lower(cid.substr(sep + 3)) != ref.container_id) continue;
          PodMatch m = base(pod, "container-id");
          m.container_name = str(cs, "name");
          m.image = str(cs, "image");
          m.image_id = str(cs, "imageID");
          return m;
        }
      }
    }
  }
  if (!ref.pod_uid.empty()) {
    for (const nlohmann::json& pod : *pods) {
      if (!pod.is_object()) continue;
      const nlohmann::json meta = pod.value("metadata", nlohmann::json::object());
      std::string hash;
      if (auto a = meta.find("annotations"); a != meta.end() && a->is_object()) {
        hash = str(*a, "kubernetes.io/config.hash");
      }
      if (lower(str(meta, "uid")) == ref.pod_uid || (!hash.empty() && lower(hash) == ref.pod_uid)) {
        return base(pod, "pod-uid");
      }
    }
  }
  return std::nullopt;
}

}  // namespace orderguard::agent
