#include "operator/status_memo.h"

namespace orderguard::op {

std::string StatusMemo::key(const json& live) {
  const json md = live.value("metadata", json::object());
  return md.value("namespace", "") + "/" + md.value("name", "") + "/" + md.value("uid", "");
}

StatusMemo::json StatusMemo::current(const json& live) {
  const std::string version = live.value("metadata", json::object()).value("resourceVersion", "");
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key(live));
    if (it != entries_.end()) {
      if (!version.empty() && it->second.based_on == version) return it->second.status;
      entries_.erase(it);
    }
  }
  return live.value("status", json::object());
}

void StatusMemo::wrote(const json& live, json status) {
  const std::string version = live.value("metadata", json::object()).value("resourceVersion", "");
  if (version.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  entries_[key(live)] = Entry{version, std::move(status)};
}

}  // namespace orderguard::op
