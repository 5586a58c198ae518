#include "kube/informer.h"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "base/log.h"
#include "kube/watch_decode.h"

namespace orderguard::kube {
namespace {

// Clock waits re-read the time at least this often, so a FakeClock advanced
// without tick() is still noticed eventually.
constexpr std::chrono::seconds kMaxWait{10};
// client-go's defaultMinWatchTimeout: watches last [5, 10) min, so the watches
// of many informers do not all end together.
constexpr std::chrono::seconds kMinWatchTimeout{300};
// A watch that ends sooner than this without events is treated as a failure.
constexpr std::chrono::seconds kShortWatch{1};

const json* member(const json& j, const char* name) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(name);
  return it == j.end() ? nullptr : &*it;
}

std::string string_member(const json& j, const char* name) {
  const json* v = member(j, name);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

const json& metadata(const json& object) {
  static const json kEmpty = json::object();
  const json* m = member(object, "metadata");
  return m != nullptr ? *m : kEmpty;
}

// "ns/name", "name" when cluster-scoped, "" when the object has no name.
std::string object_key(const json& object) {
  const json& meta = metadata(object);
  std::string ns = string_member(meta, "namespace");
  std::string name = string_member(meta, "name");
  if (name.empty()) return {};
  return ns.empty() ? name : ns + "/" + name;
}

std::string resource_version_of(const json& object) {
  return string_member(metadata(object), "resourceVersion");
}

bool changed(const json& old_obj, const json& new_obj) {
  const std::string old_rv = resource_version_of(old_obj);
  const std::string new_rv = resource_version_of(new_obj);
  if (!old_rv.empty() || !new_rv.empty()) return old_rv != new_rv;
  return old_obj != new_obj;
}

// Calls a user handler; its exceptions are logged, never propagated into the
// reflector thread.
template <typename F>
void call_handler(const Resource& resource, std::string_view event, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    log::error("informer event handler threw",
               {{"resource", resource.plural}, {"event", event}, {"error", e.what()}});
  } catch (...) {
    log::error("informer event handler threw",
               {{"resource", resource.plural}, {"event", event}, {"error", "unknown exception"}});
  }
}

}  // namespace

void strip_managed_fields(json& object) {
  if (auto it = object.find("metadata"); it != object.end() && it->is_object()) {
    it->erase("managedFields");
  }
}

// --- JitteredBackoff ---------------------------------------------------------

JitteredBackoff::JitteredBackoff(const Clock& clock, std::function<double()> random)
    : JitteredBackoff(clock, std::move(random), Params{}) {}

JitteredBackoff::JitteredBackoff(const Clock& clock, std::function<double()> random, Params params)
    : clock_(clock), random_(std::move(random)), params_(params), base_(params.initial) {}

Clock::duration JitteredBackoff::next() {
  const Clock::time_point now = clock_.now();
  if (last_step_ && now - *last_step_ > params_.reset_after) base_ = params_.initial;
  last_step_ = now;
  const Clock::duration step = base_;
  const auto grown = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, Clock::duration::period>(step.count() * params_.factor));
  base_ = std::min(grown, params_.cap);
  if (params_.jitter <= 0) return step;
  return step + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double, Clock::duration::period>(
                        step.count() * params_.jitter * random_()));
}

// --- Informer: lifecycle ------------------------------------------------------

Informer::Informer(Client& client, Resource resource, const Clock& clock, InformerOptions options)
    : client_(client),
      resource_(std::move(resource)),
      clock_(clock),
      options_(std::move(options)),
      random_(options_.random_seed ? *options_.random_seed : std::random_device{}()) {}

Informer::~Informer() { stop(); }

void Informer::add_handlers(EventHandlers handlers) {
  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  // A late handler first sees what everybody else has already seen.
  if (handlers.on_add) {
    for (const EntryPtr& e : entries()) {
      const ObjectPtr obj = load(e);
      call_handler(resource_, "add", [&] { handlers.on_add(obj); });
    }
  }
  handlers_.push_back(std::move(handlers));
}

void Informer::start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (started_ || stopping()) return;
  started_ = true;
  reflector_thread_ = std::thread([this] { run(); });
  if (options_.resync_period > Clock::duration::zero()) {
    resync_thread_ = std::thread([this] { resync_loop(); });
  }
}

void Informer::stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    stopping_ = true;
  }
  canceller_.cancel();
  wait_cv_.notify_all();
  if (reflector_thread_.joinable()) reflector_thread_.join();
  if (resync_thread_.joinable()) resync_thread_.join();
}

bool Informer::stopping() const {
  std::lock_guard<std::mutex> lock(wait_mu_);
  return stopping_;
}

bool Informer::has_synced() const {
  std::lock_guard<std::mutex> lock(wait_mu_);
  return synced_;
}

bool Informer::wait_for_sync(Clock::duration timeout) {
  const Clock::time_point deadline = clock_.now() + timeout;
  std::unique_lock<std::mutex> lock(wait_mu_);
  while (!synced_ && !stopping_) {
    const Clock::time_point now = clock_.now();
    if (now >= deadline) break;
    wait_cv_.wait_for(lock, std::min<Clock::duration>(deadline - now, kMaxWait));
  }
  return synced_;
}

std::string Informer::last_sync_resource_version() const {
  std::shared_lock<std::shared_mutex> lock(cache_mu_);
  return resource_version_;
}

void Informer::tick() {
  std::lock_guard<std::mutex> lock(wait_mu_);
  wait_cv_.notify_all();
}

bool Informer::back_off(JitteredBackoff& backoff) {
  const Clock::time_point deadline = clock_.now() + backoff.next();
  return sleep_until(deadline, /*count_backoff=*/true);
}

uint64_t Informer::backoffs() const {
  std::lock_guard<std::mutex> lock(wait_mu_);
  return backoffs_;
}

bool Informer::sleep_until(Clock::time_point deadline, bool count_backoff) {
  std::unique_lock<std::mutex> lock(wait_mu_);
  // Counted once the deadline is fixed, so a test that sees the count move
  // can advance a FakeClock past the deadline without racing its computation.
  if (count_backoff) ++backoffs_;
  while (!stopping_) {
    const Clock::time_point now = clock_.now();
    if (now >= deadline) return true;
    wait_cv_.wait_for(lock, std::min<Clock::duration>(deadline - now, kMaxWait));
  }
  return false;
}

double Informer::random01() {
  std::lock_guard<std::mutex> lock(random_mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

// --- Informer: reflector ------------------------------------------------------

void Informer::run() {
  JitteredBackoff backoff(clock_, [this] { return random01(); });
  const json log_fields = {{"resource", resource_.plural}, {"namespace", options_.ns}};
  bool need_list = true;
  // The first list may be answered by the watch cache; a relist asks for
  // data at least as new as what the cache holds; after a 410 on that, ""
  // forces a consistent read.
  std::string list_rv = "0";
  bool last_watch_failed = false;
  bool just_listed = false;  // this watch starts from a fresh list

  while (!stopping()) {
    if (need_list) {
      ListOptions lo;
      lo.label_selector = options_.label_selector;
      lo.field_selector = options_.field_selector;
      lo.resource_version = list_rv;
      if (!list_rv.empty() && list_rv != "0") lo.resource_version_match = "NotOlderThan";
      // Items are slimmed (prepare) as they arrive, so the full objects of a
      // large list are never all in memory at once.
      std::vector<Listed> items;
      Result<json> listed = client_.list_each(resource_, options_.ns, lo, [&](json&& item) {
        prepare(item);
        std::string key = object_key(item);
        if (key.empty()) return;  // not an object of this resource
        IndexTerms terms = index_terms(item);
        items.push_back({std::move(key), make_entry(std::make_shared<const json>(std::move(item))),
                         std::move(terms)});
      });
      if (stopping()) return;
      if (!listed.ok()) {
        if (listed.error().code == ErrorCode::kGone && !list_rv.empty()) {
          log::info("informer list expired, listing again", log_fields);
          list_rv.clear();
          continue;
        }
        json fields = log_fields;
        fields["error"] = listed.error().describe();
        log::error("informer list failed", fields);
        if (!back_off(backoff)) return;
        continue;
      }
      replace(std::move(items), resource_version_of(*listed));
      need_list = false;
      last_watch_failed = false;
      just_listed = true;
    } else {
      just_listed = false;
    }

    WatchOptions wo;
    wo.label_selector = options_.label_selector;
    wo.field_selector = options_.field_selector;
    wo.resource_version = last_sync_resource_version();
    wo.allow_bookmarks = true;
    wo.timeout = std::chrono::seconds(
        static_cast<int64_t>(static_cast<double>(kMinWatchTimeout.count()) * (1.0 + random01())));
    bool delivered = false;
    const Clock::time_point watch_started = clock_.now();
    Status watched = client_.watch(
        resource_, options_.ns, wo,
        [&](WatchEvent&& event) {
          delivered = true;
          handle_event(std::move(event));
        },
        canceller_);
    if (stopping()) return;
    if (watched.ok() && !delivered && clock_.now() - watch_started < kShortWatch) {
      // A watch closed at once with nothing in it is a broken server or
      // proxy, not a timeout; resuming at once would spin (client-go's
      // "very short watch").
      watched = make_error(ErrorCode::kUnavailable, "watch closed at once without events");
    }
    if (watched.ok()) {  // the server's timeout ended it: resume
      last_watch_failed = false;
      continue;
    }
    json fields = log_fields;
    fields["error"] = watched.error().describe();
    fields["resourceVersion"] = last_sync_resource_version();
    if (watched.error().code == ErrorCode::kGone) {
      // History older than our resourceVersion is gone; only a list can
      // tell us what we missed.
      log::info("informer watch expired, relisting", fields);
      need_list = true;
      if (just_listed && !delivered) {
        // The list we just made is already too old to watch from: read from
        // etcd, and do not hammer the server while it catches up.
        list_rv.clear();
        if (!back_off(backoff)) return;
      } else {
        list_rv = last_sync_resource_version();
      }
      last_watch_failed = false;
      continue;
    }
    log::error("informer watch failed", fields);
    if (last_watch_failed && !delivered) {
      need_list = true;
      list_rv = last_sync_resource_version();
    }
    last_watch_failed = true;
    if (!back_off(backoff)) return;
  }
}

void Informer::handle_event(WatchEvent&& event) {
  switch (event.type) {
    case WatchEvent::Type::kAdded:
    case WatchEvent::Type::kModified:
      upsert(std::move(event.object));
      break;
    case WatchEvent::Type::kDeleted:
      remove(std::move(event.object));
      break;
    case WatchEvent::Type::kBookmark: {
      const std::string rv = resource_version_of(event.object);
      if (!rv.empty()) {
        std::unique_lock<std::shared_mutex> lock(cache_mu_);
        resource_version_ = rv;
      }
      break;
    }
    case WatchEvent::Type::kError:
      // The client ends the watch with the Status of an ERROR event; one
      // delivered here carries nothing to cache.
      log::debug("informer ignored watch event",
                 {{"resource", resource_.plural}, {"type", to_string(event.type)}});
      break;
  }
}

void Informer::prepare(json& object) const {
  if (!object.is_object()) return;
  if (!resource_.kind.empty() && !object.contains("kind")) {
    object["kind"] = resource_.kind;
    object["apiVersion"] = resource_.api_version();
  }
  if (options_.transform) options_.transform(object);
}

void Informer::replace(std::vector<Listed> items, const std::string& resource_version) {
  std::map<std::string, Listed> fresh;
  for (Listed& item : items) {
    std::string key = item.key;
    fresh[std::move(key)] = std::move(item);
  }
  items.clear();

  // Objects are decoded for the handlers one at a time, below, so a compact
  // cache is never all decoded at once.
  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  std::vector<EntryPtr> added;
  std::vector<std::pair<EntryPtr, EntryPtr>> updated;
  std::vector<EntryPtr> deleted;
  {
    std::unique_lock<std::shared_mutex> lock(cache_mu_);
    for (const auto& [key, entry] : objects_) {
      auto it = fresh.find(key);
      if (it == fresh.end()) {
        deleted.push_back(entry);
      } else if (entry->resource_version != it->second.entry->resource_version ||
                 (entry->resource_version.empty() &&
                  changed(*load(entry), *load(it->second.entry)))) {
        updated.emplace_back(entry, it->second.entry);
      }
    }
    for (const auto& [key, item] : fresh) {
      if (objects_.count(key) == 0) added.push_back(item.entry);
    }
    by_owner_.clear();
    objects_.clear();
    for (auto& [key, item] : fresh) {
      auto placed = objects_.emplace(key, std::move(item.entry)).first;
      index_locked(placed->first, item.terms);
    }
    resource_version_ = resource_version;
  }
  fresh.clear();
  for (const EntryPtr& e : deleted) dispatch_delete(load(e));
  for (const auto& [old_e, new_e] : updated) dispatch_update(load(old_e), load(new_e));
  for (const EntryPtr& e : added) dispatch_add(load(e));

  std::lock_guard<std::mutex> lock(wait_mu_);
  synced_ = true;
  wait_cv_.notify_all();
}

void Informer::upsert(json object) {
  prepare(object);
  const std::string key = object_key(object);
  if (key.empty()) return;
  const std::string rv = resource_version_of(object);
  IndexTerms terms = index_terms(object);
  // Handlers get the object as decoded from the event; a compact cache keeps
  // only its encoding.
  auto obj = std::make_shared<const json>(std::move(object));
  EntryPtr entry = make_entry(obj);

  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  ObjectPtr old_obj;
  {
    std::unique_lock<std::shared_mutex> lock(cache_mu_);
    if (!rv.empty()) resource_version_ = rv;
    auto it = objects_.find(key);
    if (it != objects_.end()) {
      old_obj = load(it->second);
      if (!changed(*old_obj, *obj)) return;
      unindex_locked(it->first, index_terms(*old_obj));
      it->second = std::move(entry);
    } else {
      it = objects_.emplace(key, std::move(entry)).first;
    }
    index_locked(it->first, terms);
  }
  if (old_obj) {
    dispatch_update(old_obj, obj);
  } else {
    dispatch_add(obj);
  }
}

void Informer::remove(json object) {
  prepare(object);
  const std::string key = object_key(object);
  if (key.empty()) return;
  const std::string rv = resource_version_of(object);
  // The event carries the object as it was deleted, newer than our copy.
  auto final_state = std::make_shared<const json>(std::move(object));

  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  {
    std::unique_lock<std::shared_mutex> lock(cache_mu_);
    if (!rv.empty()) resource_version_ = rv;
    auto it = objects_.find(key);
    if (it == objects_.end()) return;
    unindex_locked(it->first, index_terms(*load(it->second)));
    objects_.erase(it);
  }
  dispatch_delete(final_state);
}

void Informer::resync_loop() {
  while (sleep_until(clock_.now() + options_.resync_period)) {
    if (!has_synced()) continue;
    std::lock_guard<std::mutex> dispatch(dispatch_mu_);
    for (const EntryPtr& e : entries()) {
      const ObjectPtr obj = load(e);
      dispatch_update(obj, obj);
    }
  }
}

// --- Informer: handlers -------------------------------------------------------

void Informer::dispatch_add(const ObjectPtr& obj) {
  for (const EventHandlers& h : handlers_) {
    if (h.on_add) call_handler(resource_, "add", [&] { h.on_add(obj); });
  }
}

void Informer::dispatch_update(const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
  for (const EventHandlers& h : handlers_) {
    if (h.on_update) call_handler(resource_, "update", [&] { h.on_update(old_obj, new_obj); });
  }
}

void Informer::dispatch_delete(const ObjectPtr& obj) {
  for (const EventHandlers& h : handlers_) {
    if (h.on_delete) call_handler(resource_, "delete", [&] { h.on_delete(obj); });
  }
}

// --- Informer: cache and indexes -----------------------------------------------

Informer::EntryPtr Informer::make_entry(ObjectPtr object) const {
  auto entry = std::make_shared<Entry>();
  entry->resource_version = resource_version_of(*object);
  if (options_.compact) {
    std::string cbor;
    json::to_cbor(*object, cbor);
    if (compact_encode(cbor, &dictionary(cbor), &entry->compressed)) return entry;
    entry->compressed.clear();  // zlib got no memory: keep the object parsed
  }
  entry->object = std::move(object);
  return entry;
}

const CompactDictionary& Informer::dictionary(const std::string& first) const {
  std::lock_guard<std::mutex> lock(dictionary_mu_);
  // The first object is the dictionary of every later one (and is itself
  // compressed against it: to a few bytes).
  if (dictionary_ == nullptr) dictionary_ = std::make_unique<const CompactDictionary>(first);
  return *dictionary_;
}

ObjectPtr Informer::load(const EntryPtr& entry) const {
  if (entry->object) return entry->object;
  // Our own encoding of a valid document: decoding fails only if memory does.
  std::string cbor;
  if (!compact_decode(entry->compressed, &dictionary(), &cbor)) {
    throw std::runtime_error("cannot inflate a cached " + resource_.kind);
  }
  return std::make_shared<const json>(json::from_cbor(cbor));
}

std::vector<Informer::EntryPtr> Informer::entries() const {
  std::shared_lock<std::shared_mutex> lock(cache_mu_);
  std::vector<EntryPtr> out;
  out.reserve(objects_.size());
  for (const auto& [key, entry] : objects_) out.push_back(entry);
  return out;
}

Informer::IndexTerms Informer::index_terms(const json& object) {
  IndexTerms terms;
  const json& meta = metadata(object);
  if (const json* refs = member(meta, "ownerReferences"); refs != nullptr && refs->is_array()) {
    for (const json& ref : *refs) {
      std::string uid = string_member(ref, "uid");
      if (!uid.empty()) terms.owners.push_back(std::move(uid));
    }
  }
  return terms;
}

void Informer::index_locked(std::string_view key, const IndexTerms& terms) {
  for (const std::string& uid : terms.owners) by_owner_[uid].insert(key);
}

void Informer::unindex_locked(std::string_view key, const IndexTerms& terms) {
  for (const std::string& uid : terms.owners) {
    auto it = by_owner_.find(uid);
    if (it == by_owner_.end()) continue;
    it->second.erase(key);
    if (it->second.empty()) by_owner_.erase(it);
  }
}

ObjectPtr Informer::get(std::string_view ns, std::string_view name) const {
  std::string key = ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name);
  EntryPtr entry;
  {
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return nullptr;
    entry = it->second;
  }
  return load(entry);
}

std::vector<ObjectPtr> Informer::list() const {
  const std::vector<EntryPtr> all = entries();
  std::vector<ObjectPtr> out;
  out.reserve(all.size());
  for (const EntryPtr& e : all) out.push_back(load(e));
  return out;
}

void Informer::for_each(const std::function<void(const ObjectPtr&)>& f) const {
  for (const EntryPtr& e : entries()) f(load(e));
}

std::vector<ObjectPtr> Informer::by_namespace(std::string_view ns) const {
  std::vector<EntryPtr> found;
  {
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    if (ns.empty()) {
      // Cluster-scoped keys are bare names: no '/' (names and namespaces never hold one).
      for (const auto& [key, entry] : objects_) {
        if (key.find('/') == std::string::npos) found.push_back(entry);
      }
    } else {
      // "ns/..." keys are contiguous in the ordered map.
      const std::string prefix = std::string(ns) + "/";
      for (auto it = objects_.lower_bound(prefix);
           it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        found.push_back(it->second);
      }
    }
  }
  std::vector<ObjectPtr> out;
  out.reserve(found.size());
  for (const EntryPtr& e : found) out.push_back(load(e));
  return out;
}

std::vector<ObjectPtr> Informer::by_owner(std::string_view owner_uid) const {
  std::vector<EntryPtr> found;
  {
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto it = by_owner_.find(owner_uid);
    if (it == by_owner_.end()) return {};
    found.reserve(it->second.size());
    for (std::string_view key : it->second) {
      if (auto obj = objects_.find(key); obj != objects_.end()) found.push_back(obj->second);
    }
  }
  std::vector<ObjectPtr> out;
  out.reserve(found.size());
  for (const EntryPtr& e : found) out.push_back(load(e));
  return out;
}

std::vector<ObjectPtr> Informer::by_label(std::string_view key, std::string_view value) const {
  std::vector<ObjectPtr> out;
  for (const EntryPtr& e : entries()) {
    ObjectPtr obj = load(e);
    const json* labels = member(metadata(*obj), "labels");
    if (labels == nullptr || !labels->is_object()) continue;
    auto it = labels->find(key);
    if (it != labels->end() && it->is_string() && it->get_ref<const std::string&>() == value) {
      out.push_back(std::move(obj));
    }
  }
  return out;
}

std::vector<std::string> Informer::names_by_owner(std::string_view owner_uid) const {
  std::vector<std::string> out;
  std::shared_lock<std::shared_mutex> lock(cache_mu_);
  auto it = by_owner_.find(owner_uid);
  if (it == by_owner_.end()) return out;
  out.reserve(it->second.size());
  for (std::string_view key : it->second) {
    const size_t slash = key.find('/');
    out.emplace_back(slash == std::string_view::npos ? key : key.substr(slash + 1));
  }
  return out;
}

std::optional<std::string> Informer::cached_resource_version(std::string_view ns,
                                                             std::string_view name) const {
  std::string key = ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name);
  std::shared_lock<std::shared_mutex> lock(cache_mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return std::nullopt;
  return it->second->resource_version;
}

size_t Informer::size() const {
  std::shared_lock<std::shared_mutex> lock(cache_mu_);
  return objects_.size();
}

}  // namespace orderguard::kube
