// The test node's storage: a small local-volume provisioner, so StatefulSet
// PersistentVolumeClaims bind to real directories on the node and a reclaim
// policy of Delete really deletes the data.
//
// Contracts:
// - It serves the StorageClass `kLocalStorageClass` (provisioner
//   `kLocalProvisioner`), which the node installs as the cluster's default
//   class with volumeBindingMode Immediate and reclaimPolicy Delete.
// - For each Pending claim of that class without a volume it makes a
//   directory <root>/<pv name> (mode 0777: images run their servers as users
//   of their own) and creates a `local` PersistentVolume with the claim's
//   size and access modes, the class's reclaim policy, a claimRef to the
//   claim and node affinity to the node; the controller manager binds them.
// - A Released volume it made, with reclaim policy Delete, loses its
//   directory and then its PersistentVolume object. Retain leaves both.
// - Only directories below <root> are ever made or removed.
// - Each pass lists claims and volumes afresh (no watch): a missed event, a
//   restart or an API server outage only delays the next pass.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "kube/client.h"

namespace orderguard::e2e {

inline constexpr char kLocalStorageClass[] = "orderguard-local";
inline constexpr char kLocalProvisioner[] = "orderguard.io/local-volume";

struct LocalProvisionerOptions {
  std::string node;  // the node the volumes live on
  std::string root;  // where their directories are made
};

// The StorageClass the node installs (default class).
nlohmann::json local_storage_class();

// The PersistentVolume for `claim` (a PersistentVolumeClaim object) of
// `storage_class` (a StorageClass object).
nlohmann::json local_volume_for(const nlohmann::json& claim, const nlohmann::json& storage_class,
                                const LocalProvisionerOptions& options);

// One pass over claims and volumes; the number of volumes made or removed.
Result<int> provision_once(kube::Client& client, const LocalProvisionerOptions& options);

}  // namespace orderguard::e2e
