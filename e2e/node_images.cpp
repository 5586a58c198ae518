#include "e2e/node_images.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace orderguard::e2e {

nlohmann::json testbox_pod(const std::string& ns, const std::string& name,
                           const std::string& script) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}},
          {"spec",
           {{"terminationGracePeriodSeconds", 1},
            {"containers",
             {{{"name", "box"},
               {"image", kTestboxImage},
               {"imagePullPolicy", "Never"},
               {"command", {"/bin/sh", "-c", script}}}}}}}};
}

std::string node_images_dir() {
  if (const char* dir = std::getenv("ORDERGUARD_IMAGES_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  if (const char* cache = std::getenv("ORDERGUARD_CACHE"); cache != nullptr && *cache != '\0') {
    return std::string(cache) + "/images";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/root") + "/.cache/orderguard/images";
}

Result<std::vector<std::string>> node_image_archives() {
  const std::string dir = node_images_dir();
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".tar") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  // Archives are named <image>_<tag>.oci.tar (scripts/images.sh).
  for (const std::string needed : {"pause_", "testbox_", "batch-worker_"}) {
    const bool found = std::any_of(out.begin(), out.end(), [&](const std::string& path) {
      return std::filesystem::path(path).filename().string().rfind(needed, 0) == 0;
    });
    if (!found) {
      return make_error(ErrorCode::kInvalid, "no " + needed + "*.tar image archive in " + dir +
                                                 ": build the images with `make images`");
    }
  }
  return out;
}

}  // namespace orderguard::e2e
