#include "e2e/local_provisioner.h"

#include <sys/stat.h>

#include <filesystem>

#include "base/log.h"
#include "e2e/node.h"

namespace orderguard::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const kube::Resource kClaims{"", "v1", "persistentvolumeclaims", true, "PersistentVolumeClaim"};
const kube::Resource kVolumes{"", "v1", "persistentvolumes", false, "PersistentVolume"};
const kube::Resource kClasses{"storage.k8s.io", "v1", "storageclasses", false, "StorageClass"};

constexpr char kProvisionedBy[] = "pv.kubernetes.io/provisioned-by";

std::string volume_name(const json& claim) {
  return "pvc-" + claim["metadata"].value("uid", std::string());
}

// `root`/`name`, only for a plain name (no separators, not . or ..).
Result<std::string> volume_dir(const std::string& root, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return make_error(ErrorCode::kInvalid, "unsafe volume name \"" + name + "\"");
  }
  return root + "/" + name;
}

}  // namespace

json local_storage_class() {
  return {{"apiVersion", "storage.k8s.io/v1"},
          {"kind", "StorageClass"},
          {"metadata",
           {{"name", kLocalStorageClass},
            {"annotations", {{"storageclass.kubernetes.io/is-default-class", "true"}}}}},
          {"provisioner", kLocalProvisioner},
          {"reclaimPolicy", "Delete"},
          // One node: nothing to wait for before choosing where a volume lives.
          {"volumeBindingMode", "Immediate"}};
}

json local_volume_for(const json& claim, const json& storage_class,
                      const LocalProvisionerOptions& options) {
  const json& spec = claim["spec"];
  const std::string name = volume_name(claim);
  json capacity = spec.value("resources", json::object())
                      .value("requests", json::object())
                      .value("storage", json("1Gi"));
  return {
      {"apiVersion", "v1"},
      {"kind", "PersistentVolume"},
      {"metadata", {{"name", name}, {"annotations", {{kProvisionedBy, kLocalProvisioner}}}}},
      {"spec",
       {{"capacity", {{"storage", capacity}}},
        {"accessModes", spec.value("accessModes", json::array({"ReadWriteOnce"}))},
        {"volumeMode", spec.value("volumeMode", std::string("Filesystem"))},
        {"persistentVolumeReclaimPolicy", storage_class.value("reclaimPolicy", "Delete")},
        {"storageClassName", storage_class["metadata"].value("name", std::string())},
        {"claimRef",
         {{"apiVersion", "v1"},
          {"kind", "PersistentVolumeClaim"},
          {"namespace", claim["metadata"].value("namespace", std::string())},
          {"name", claim["metadata"].value("name", std::string())},
          {"uid", claim["metadata"].value("uid", std::string())}}},
        {"local", {{"path", options.root + "/" + name}}},
        {"nodeAffinity",
         {{"required",
           {{"nodeSelectorTerms",
             json::array({{{"matchExpressions",
                            json::array({{{"key", "kubernetes.io/hostname"},
                                          {"operator", "In"},
                                          {"values", json::array({options.node})}}})}}})}}}}}}}};
}

Result<int> provision_once(kube::Client& client, const LocalProvisionerOptions& options) {
  auto classes = client.list_all(kClasses, "", {});
  if (!classes.ok()) return classes.error();
  std::map<std::string, json> ours;
  for (const auto& c : (*classes)["items"]) {
    if (c.value("provisioner", std::string()) == kLocalProvisioner) {
      ours[c["metadata"].value("name", std::string())] = c;
    }
  }
  int changed = 0;
  auto claims = client.list_all(kClaims, "", {});
  if (!claims.ok()) return claims.error();
  for (const auto& claim : (*claims)["items"]) {
    const json& spec = claim.value("spec", json::object());
    const auto cls = ours.find(spec.value("storageClassName", std::string()));
    if (cls == ours.end() || !spec.value("volumeName", std::string()).empty() ||
        claim.value("status", json::object()).value("phase", std::string()) != "Pending" ||
        claim["metadata"].contains("deletionTimestamp")) {
      continue;
    }
    const json volume = local_volume_for(claim, cls->second, options);
    auto dir = volume_dir(options.root, volume["metadata"]["name"].get<std::string>());
    if (!dir.ok()) return dir.error();
    std::error_code ec;
    fs::create_directories(*dir, ec);
    if (ec) return make_error(ErrorCode::kInternal, "create " + *dir + ": " + ec.message());
    ::chmod(dir->c_str(), 0777);
    auto created = client.create(kVolumes, "", volume);
    if (!created.ok() && created.error().code != ErrorCode::kAlreadyExists) {
      return created.error();
    }
    if (created.ok()) {
      ++changed;
      log::info("volume provisioned",
                {{"volume", volume["metadata"]["name"].get<std::string>()},
                 {"claim", claim["metadata"].value("namespace", std::string()) + "/" +
                               claim["metadata"].value("name", std::string())},
                 {"path", *dir}});
    }
  }
  auto volumes = client.list_all(kVolumes, "", {});
  if (!volumes.ok()) return volumes.error();
  for (const auto& v : (*volumes)["items"]) {
    const json& meta = v["metadata"];
    if (meta.value("annotations", json::object()).value(kProvisionedBy, std::string()) !=
            kLocalProvisioner ||
        v.value("status", json::object()).value("phase", std::string()) != "Released" ||
        v["spec"].value("persistentVolumeReclaimPolicy", std::string()) != "Delete") {
      continue;
    }
    const std::string name = meta.value("name", std::string());
    auto dir = volume_dir(options.root, name);
    if (!dir.ok()) continue;
    // A released volume is no longer mounted by a Pod; unmount anything left
    // anyway, so the delete never reaches through a mount.
    if (auto s = unmount_below(*dir); !s.ok()) return s.error();
    std::error_code ec;
    fs::remove_all(*dir, ec);
    if (ec) return make_error(ErrorCode::kInternal, "remove " + *dir + ": " + ec.message());
    auto removed = client.remove(kVolumes, "", name);
    if (!removed.ok() && removed.error().code != ErrorCode::kNotFound) return removed.error();
    ++changed;
    log::info("volume deleted", {{"volume", name}, {"path", *dir}});
  }
  return changed;
}

}  // namespace orderguard::e2e
