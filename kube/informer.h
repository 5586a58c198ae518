// An informer: list + watch of one resource into an indexed in-memory cache,
// with event handlers, in the manner of client-go's Reflector + SharedInformer.
//
// Contract:
//  - Reflector loop (own thread, started by start()):
//      1. list (Client::list_each, paged) at resourceVersion "0" the first
//         time (the watch cache may answer), later at the last resourceVersion
//         seen, "NotOlderThan"; a 410 on that list relists with "" (a
//         consistent read). Each item is transformed as it is decoded.
//      2. Replace the cache with the list, emitting add/update/delete for the
//         difference to the previous cache, so nothing is lost across a relist.
//      3. Watch from the list's resourceVersion with bookmarks and a server
//         timeout drawn from [5, 10] min. When a watch ends, watch again from
//         the last resourceVersion seen (events and bookmarks move it).
//      4. 410 Gone on a watch: relist at once; but if the watch started from
//         the list just made and got nothing, that list was already too old:
//         back off, then relist with "". Other errors: wait with
//         JitteredBackoff (800 ms doubling to 30 s, jitter 1.0, reset after
//         2 min without errors), then resume the watch; if the resumed watch
//         fails again before delivering anything, relist. A watch that ends
//         within 1 s without any event counts as failed. List errors back off
//         and retry the list.
//  - Handlers run on the informer's threads, one at a time, in event order,
//    outside the cache lock (they may read the informer, but must not call
//    add_handlers() or stop()). A handler that throws is logged and does not
//    stop the informer. Handlers added after start() first receive an add for
//    every cached object.
//  - Updates are delivered only for a changed resourceVersion; the optional
//    resync replays every cached object as an update with old == new.
//  - Objects are immutable shared_ptr<const json>. Items of a list get
//    apiVersion/kind from the Resource when the server left them out.
//  - With `compact`, the cache holds each object as CBOR deflated against the
//    first object it cached (kube/compact_codec.h: a sibling shares nearly
//    every key and most values, so a 2 KB Deployment keeps about 170 bytes),
//    and every read (get/list/by_*/for_each, handler arguments) decodes a
//    fresh copy: a parsed nlohmann::json takes about 7 times the bytes of its
//    CBOR. Each read costs an inflate and a decode (tens of microseconds for a
//    Deployment).
//  - Reads (get/list/by_*) are thread-safe and never block on the network.
//  - Waits (backoff, resync, wait_for_sync) measure time with the Clock; with a
//    FakeClock, advance it and call tick() to make the informer re-check it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "kube/client.h"
#include "kube/compact_codec.h"

namespace orderguard::kube {

using ObjectPtr = std::shared_ptr<const json>;

struct EventHandlers {
  std::function<void(const ObjectPtr&)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  // The last state of the object known to the informer.
  std::function<void(const ObjectPtr&)> on_delete;
};

// client-go's jittered exponential backoff manager (wait.Backoff + reset):
// step n waits base_n * (1 + jitter * r), r uniform in [0, 1), with
// base_0 = initial, base_{n+1} = min(base_n * factor, cap). When more than
// `reset_after` passed since the previous step, it starts over at `initial`.
class JitteredBackoff {
 public:
  struct Params {
    Clock::duration initial = std::chrono::milliseconds(800);
    double factor = 2.0;
    Clock::duration cap = std::chrono::seconds(30);
    double jitter = 1.0;
    Clock::duration reset_after = std::chrono::minutes(2);
  };

  // `random` returns values uniform in [0, 1).
  JitteredBackoff(const Clock& clock, std::function<double()> random);
  JitteredBackoff(const Clock& clock, std::function<double()> random, Params params);

  Clock::duration next();

 private:
  const Clock& clock_;
  std::function<double()> random_;
  const Params params_;
  Clock::duration base_;
  std::optional<Clock::time_point> last_step_;
};

struct InformerOptions {
  std::string ns;  // "" for every namespace (or a cluster-scoped resource)
  std::string label_selector;
  std::string field_selector;
  // Replays the cache as updates this often; zero disables it.
  Clock::duration resync_period = Clock::duration::zero();
  // Seeds the watch timeouts and backoff jitter; unset seeds from the system.
  std::optional<uint64_t> random_seed;
  // Applied to each object before it is cached (e.g. strip_managed_fields) to
  // bound memory; must not change namespace, name or resourceVersion.
  std::function<void(json&)> transform;
  // Stores objects encoded (CBOR, deflated against the first cached object)
  // and decodes them on every read: for large caches read a few objects at a
  // time, such as a controller's.
  bool compact = false;
};

// Drops metadata.managedFields, which a controller reading its cache never needs.
void strip_managed_fields(json& object);

class Informer {
 public:
  // `client` and `clock` must outlive the informer.
  Informer(Client& client, Resource resource, const Clock& clock, InformerOptions options = {});
  // Stops the informer.
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void add_handlers(EventHandlers handlers);

  // Runs the reflector (and resync) threads. Calling it twice, or after stop(),
  // does nothing.
  void start();
  // Cancels the watch in flight, wakes every wait and joins the threads.
  // Idempotent; an informer cannot restart.
  void stop();

  // True once the first list has been cached and its events delivered.
  bool has_synced() const;
  // Waits (on the Clock) until has_synced() or `timeout`; returns has_synced().
  bool wait_for_sync(Clock::duration timeout);
  // The resourceVersion of the last list, watch event or bookmark processed.
  std::string last_sync_resource_version() const;

  // Wakes every Clock wait so it re-reads the time (for FakeClock tests).
  void tick();
  // How many times the reflector has started a backoff wait after a failure.
  // A test that sees it grow can advance a FakeClock past that wait.
  uint64_t backoffs() const;

  const Resource& resource() const { return resource_; }

  ObjectPtr get(std::string_view ns, std::string_view name) const;
  std::vector<ObjectPtr> list() const;  // ordered by namespace/name
  // A range of the cache's ordered keys ("ns/name"): no index of its own.
  std::vector<ObjectPtr> by_namespace(std::string_view ns) const;
  std::vector<ObjectPtr> by_owner(std::string_view owner_uid) const;
  // Scans the whole cache (decoding each object of a compact one): for rare
  // reads. An index of every label cost 112 bytes per label of every cached
  // object, about 4 MiB of the operator's memory at 1,000 OrderServices, for a
  // lookup no controller made.
  std::vector<ObjectPtr> by_label(std::string_view key, std::string_view value) const;
  // The names of the cached objects `owner_uid` owns, ordered by namespace/name,
  // without decoding them (a compact cache decodes on every read).
  std::vector<std::string> names_by_owner(std::string_view owner_uid) const;
  // The resourceVersion of a cached object without decoding it; nullopt when
  // it is not cached.
  std::optional<std::string> cached_resource_version(std::string_view ns,
                                                     std::string_view name) const;
  // Calls `f` for every cached object, ordered by namespace/name, decoding one
  // at a time where list() decodes them all first.
  void for_each(const std::function<void(const ObjectPtr&)>& f) const;
  size_t size() const;

 private:
  // One cached object: parsed, or (compact) encoded.
  struct Entry {
    std::string resource_version;
    ObjectPtr object;                 // null when compact
    std::vector<uint8_t> compressed;  // compact only: CBOR deflated against dictionary_
  };
  using EntryPtr = std::shared_ptr<const Entry>;
  // What an object is indexed under.
  struct IndexTerms {
    std::vector<std::string> owners;  // ownerReferences[].uid
  };
  // A listed item, prepared, waiting for replace().
  struct Listed {
    std::string key;
    EntryPtr entry;
    IndexTerms terms;
  };

  void run();
  void resync_loop();
  // Lists and replaces the cache; false when the loop must back off.
  void handle_event(WatchEvent&& event);
  void replace(std::vector<Listed> items, const std::string& resource_version);
  void upsert(json object);
  void remove(json object);
  // Sleeps until the Clock reaches `deadline`; false when stopping.
  bool sleep_until(Clock::time_point deadline, bool count_backoff = false);
  // Sleeps for the backoff's next step; false when stopping.
  bool back_off(JitteredBackoff& backoff);
  bool stopping() const;
  double random01();

  EntryPtr make_entry(ObjectPtr object) const;
  ObjectPtr load(const EntryPtr& entry) const;
  // The cache's dictionary, made from `first` (the CBOR being encoded) when there is none
  // yet; a compressed entry exists only after it was made.
  const CompactDictionary& dictionary(const std::string& first = {}) const;
  std::vector<EntryPtr> entries() const;  // ordered by key
  static IndexTerms index_terms(const json& object);
  void index_locked(std::string_view key, const IndexTerms& terms);
  void unindex_locked(std::string_view key, const IndexTerms& terms);
  void prepare(json& object) const;

  void dispatch_add(const ObjectPtr& obj);
  void dispatch_update(const ObjectPtr& old_obj, const ObjectPtr& new_obj);
  void dispatch_delete(const ObjectPtr& obj);

  Client& client_;
  const Resource resource_;
  const Clock& clock_;
  const InformerOptions options_;
  Canceller canceller_;

  std::mutex random_mu_;
  std::mt19937_64 random_;

  // Cache and index. Keys are "ns/name" or "name"; the owner index holds views
  // of the keys of objects_ (a map's keys stay put until erased, and an object
  // leaves the index before its key leaves the map).
  mutable std::shared_mutex cache_mu_;
  // The first object a compact cache encoded (kube/compact_codec.h): set once, before
  // any entry compressed against it exists, and never changed.
  mutable std::mutex dictionary_mu_;
  mutable std::unique_ptr<const CompactDictionary> dictionary_;
  std::map<std::string, EntryPtr, std::less<>> objects_;
  std::map<std::string, std::set<std::string_view>, std::less<>> by_owner_;  // owner uid
  std::string resource_version_;

  // Serializes handler calls and guards the handler list.
  std::mutex dispatch_mu_;
  std::vector<EventHandlers> handlers_;

  // Clock waits, sync state and the stop flag.
  mutable std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  bool synced_ = false;
  bool stopping_ = false;
  uint64_t backoffs_ = 0;

  std::mutex lifecycle_mu_;  // start()/stop(), held while joining
  bool started_ = false;
  std::thread reflector_thread_;
  std::thread resync_thread_;
};

}  // namespace orderguard::kube
