// The images a test node runs, found as OCI archives made by `make images`.
//
// Contracts:
// - The directory is $ORDERGUARD_IMAGES_DIR, else
//   ${ORDERGUARD_CACHE:-$HOME/.cache/orderguard}/images.
// - node_image_archives() returns every *.tar there, sorted, and fails with
//   a message saying how to build them when the pause, test or miner image is
//   missing.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"

namespace orderguard::e2e {

// The node's sandbox image (containerd's sandbox_image).
inline constexpr char kPauseImage[] = "localhost/orderguard/pause:3.10";
// A busybox image for test Pods (shell, sleep, nc, wget).
inline constexpr char kTestboxImage[] = "localhost/orderguard/testbox:1";
// A project-built miner (agent/test/fake_miner_main.cpp, static) under a
// benign name: it burns a CPU and keeps a stratum session when asked to.
inline constexpr char kMinerImage[] = "localhost/orderguard/batch-worker:1";
// The tiers' test images (e2e/node/<name>/): Debian's Redis 7.0 and MariaDB
// 10.11, and a busybox HTTP server standing in for the order service.
inline constexpr char kRedisImage[] = "localhost/orderguard/redis:7.0";
inline constexpr char kMariaDbImage[] = "localhost/orderguard/mariadb:10.11";
inline constexpr char kOrderAppImage[] = "localhost/orderguard/order-app:1";

// A Pod of the busybox test image running `/bin/sh -c script`, label app=<name>,
// never pulled, 1 s grace.
nlohmann::json testbox_pod(const std::string& ns, const std::string& name,
                           const std::string& script);

std::string node_images_dir();
Result<std::vector<std::string>> node_image_archives();

}  // namespace orderguard::e2e
