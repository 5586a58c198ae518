// The status this operator last wrote for each object, until its informer cache shows it.
//
// A status patch reaches the informer cache through the watch a little after the write. A
// pass in between (the owner is enqueued again by its new children's watch events right
// after it created them) would read the old status from the cache, compute the status
// again with fresh condition transition times, and write a second time. Reading the
// status through the memo, that pass starts from what was written and writes nothing.
//
// Contract: current() returns the written status only while the cached object still has
// the resourceVersion the write was based on; once the cache moves on (our write arrived,
// or anyone else changed the object) the entry is dropped and the cached status is used.
// Thread-safe; entries exist only for writes not yet seen, so the memo stays small.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace orderguard::op {

class StatusMemo {
 public:
  using json = nlohmann::json;

  // The status to start from for `live` (the cached object).
  json current(const json& live);
  // After a successful status write computed from `live`.
  void wrote(const json& live, json status);

 private:
  struct Entry {
    std::string based_on;  // resourceVersion of the object the write started from
    json status;
  };
  static std::string key(const json& live);

  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace orderguard::op
