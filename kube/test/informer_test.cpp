#include "kube/informer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "e2e/support/wait.h"

namespace orderguard::kube {
namespace {

using e2e::eventually;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Scripted list and watch answers; nothing else. A watch with no script left
// blocks until the test scripts one or the informer cancels it.
class FakeClient final : public Client {
 public:
  struct WatchScript {
    std::vector<WatchEvent> events;
    Status end;  // how the watch ends after its events
  };

  void push_list(Result<json> answer) {
    std::lock_guard<std::mutex> lock(mu_);
    lists_.push_back(std::move(answer));
  }
  void push_watch(WatchScript script) {
    std::lock_guard<std::mutex> lock(mu_);
    watches_.push_back(std::move(script));
    cv_.notify_all();
  }
  std::vector<ListOptions> list_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return list_calls_;
  }
  std::vector<WatchOptions> watch_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_calls_;
  }

  Result<json> list_all(const Resource&, std::string_view, const ListOptions& opts) override {
    std::lock_guard<std::mutex> lock(mu_);
    list_calls_.push_back(opts);
    if (lists_.empty()) return make_error(ErrorCode::kUnavailable, "no scripted list");
    Result<json> answer = std::move(lists_.front());
    lists_.pop_front();
    return answer;
  }

  Status watch(const Resource&, std::string_view, const WatchOptions& opts,
               const std::function<void(WatchEvent&&)>& on_event,
               const Canceller& cancel) override {
    WatchScript script;
    {
      std::unique_lock<std::mutex> lock(mu_);
      watch_calls_.push_back(opts);
      while (watches_.empty()) {
        if (cancel.cancelled()) return make_error(ErrorCode::kCancelled, "cancelled");
        cv_.wait_for(lock, milliseconds(5));
      }
      script = std::move(watches_.front());
      watches_.pop_front();
    }
    for (WatchEvent& e : script.events) on_event(std::move(e));
    return script.end;
  }

  Result<json> get(const Resource&, std::string_view, std::string_view, std::string_view) override {
    return unsupported();
  }
  Result<json> list(const Resource&, std::string_view, const ListOptions&) override {
    return unsupported();
  }
  Result<json> create(const Resource&, std::string_view, const json&, std::string_view) override {
    return unsupported();
  }
  Result<json> update(const Resource&, std::string_view, const json&, std::string_view) override {
    return unsupported();
  }
  Status remove(const Resource&, std::string_view, std::string_view,
                const DeleteOptions&) override {
    return unsupported();
  }
  Result<json> patch(const Resource&, std::string_view, std::string_view, PatchType, const json&,
                     std::string_view) override {
    return unsupported();
  }
  Result<json> apply(const Resource&, std::string_view, const json&, const ApplyOptions&,
                     std::string_view) override {
    return unsupported();
  }
  Status evict(std::string_view, std::string_view, const DeleteOptions&) override {
    return unsupported();
  }
  Result<json> raw(std::string_view, std::string_view, const json*, std::string_view) override {
    return unsupported();
  }

 private:
  static Error unsupported() { return make_error(ErrorCode::kInternal, "not in the fake"); }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Result<json>> lists_;
  std::deque<WatchScript> watches_;
  std::vector<ListOptions> list_calls_;
  std::vector<WatchOptions> watch_calls_;
};

const Resource kPods{"", "v1", "pods", true, "Pod"};

json pod(const std::string& ns, const std::string& name, const std::string& rv,
         json labels = json::object(), json owners = json::array()) {
  return {{"metadata",
           {{"namespace", ns},
            {"name", name},
            {"resourceVersion", rv},
            {"labels", std::move(labels)},
            {"ownerReferences", std::move(owners)},
            {"managedFields", json::array({{{"manager", "kubectl"}}})}}}};
}

json pod_list(const std::string& rv, std::vector<json> items) {
  return {{"kind", "PodList"},
          {"apiVersion", "v1"},
          {"metadata", {{"resourceVersion", rv}}},
          {"items", std::move(items)}};
}

WatchEvent event(WatchEvent::Type type, json object) { return WatchEvent{type, std::move(object)}; }

WatchEvent bookmark(const std::string& rv) {
  return event(WatchEvent::Type::kBookmark,
               {{"kind", "Pod"}, {"metadata", {{"resourceVersion", rv}}}});
}

std::string name_of(const ObjectPtr& obj) { return (*obj)["metadata"]["name"]; }
std::string rv_of(const ObjectPtr& obj) { return (*obj)["metadata"]["resourceVersion"]; }

// Records handler calls as "add a", "update a 1->2", "delete b".
struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;

  EventHandlers handlers() {
    return EventHandlers{
        [this](const ObjectPtr& o) { record("add " + name_of(o)); },
        [this](const ObjectPtr& o, const ObjectPtr& n) {
          record("update " + name_of(n) + " " + rv_of(o) + "->" + rv_of(n));
        },
        [this](const ObjectPtr& o) { record("delete " + name_of(o)); },
    };
  }
  void record(std::string e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(std::move(e));
  }
  std::vector<std::string> take() {
    std::lock_guard<std::mutex> lock(mu);
    return std::exchange(events, {});
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return events.size();
  }
};

struct InformerFixture : ::testing::Test {
  FakeClock clock;
  FakeClient client;
  Recorder recorder;

  std::unique_ptr<Informer> make(InformerOptions opts = {}) {
    opts.random_seed = 42;
    auto informer = std::make_unique<Informer>(client, kPods, clock, std::move(opts));
    informer->add_handlers(recorder.handlers());
    return informer;
  }
  // Waits until the informer has started its n-th backoff wait, then moves the
  // FakeClock past it (a jittered step is at most 2 x 30 s).
  bool finish_backoff(Informer& informer, uint64_t n) {
    if (!eventually([&] { return informer.backoffs() >= n; })) return false;
    clock.advance(seconds(61));
    informer.tick();
    return true;
  }
  bool synced(Informer& informer) {
    return eventually([&] { return informer.has_synced(); });
  }
  // The ownerReferences of the pods the index tests own.
  static json rs_owner() {
    return json::array({{{"uid", "u1"}, {"kind", "ReplicaSet"}, {"name", "rs"}}});
  }
  // A list at resourceVersion 10: shop/a (web, owned), shop/b (db), ops/c (web, owned).
  void push_three_pods() {
    const json owner = rs_owner();
    client.push_list(pod_list("10", {pod("shop", "a", "5", {{"app", "web"}}, owner),
                                     pod("shop", "b", "6", {{"app", "db"}}),
                                     pod("ops", "c", "7", {{"app", "web"}}, owner)}));
  }
};

TEST_F(InformerFixture, ListsThenWatchesFromTheListResourceVersion) {
  client.push_list(pod_list("10", {pod("shop", "a", "5"), pod("shop", "b", "7")}));
  auto informer = make();
  informer->start();
  ASSERT_TRUE(synced(*informer));
  EXPECT_TRUE(informer->wait_for_sync(seconds(1)));
  EXPECT_EQ(recorder.take(), (std::vector<std::string>{"add a", "add b"}));
  EXPECT_EQ(informer->size(), 2u);
  EXPECT_EQ(informer->last_sync_resource_version(), "10");

  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 1; }));
  const ListOptions first_list = client.list_calls().at(0);
  EXPECT_EQ(first_list.resource_version, "0");
  const WatchOptions watch = client.watch_calls().at(0);
  EXPECT_EQ(watch.resource_version, "10");
  EXPECT_TRUE(watch.allow_bookmarks);
  EXPECT_GE(watch.timeout, std::chrono::minutes(5));
  EXPECT_LE(watch.timeout, std::chrono::minutes(10));

  // Items of a typed list carry no kind; the cache fills it in.
  ObjectPtr a = informer->get("shop", "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ((*a)["kind"], "Pod");
  EXPECT_EQ((*a)["apiVersion"], "v1");
  EXPECT_EQ(informer->get("shop", "missing"), nullptr);
  informer->stop();
}

TEST_F(InformerFixture, AppliesWatchEventsAndResumesFromTheLastResourceVersion) {
  client.push_list(pod_list("10", {pod("shop", "a", "5"), pod("shop", "b", "7")}));
  client.push_watch({{event(WatchEvent::Type::kAdded, pod("shop", "c", "11")),
                      event(WatchEvent::Type::kModified, pod("shop", "a", "12")),
                      event(WatchEvent::Type::kModified, pod("shop", "a", "12")),  // no change
                      event(WatchEvent::Type::kDeleted, pod("shop", "b", "13")), bookmark("20")},
                     Status()});
  auto informer = make();
  informer->start();
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 2; }));
  EXPECT_EQ(recorder.take(),
            (std::vector<std::string>{"add a", "add b", "add c", "update a 5->12", "delete b"}));
  EXPECT_EQ(informer->last_sync_resource_version(), "20");
  EXPECT_EQ(client.watch_calls().at(1).resource_version, "20");
  EXPECT_EQ(client.list_calls().size(), 1u);  // a watch that ends normally is resumed
  std::vector<std::string> names;
  for (const ObjectPtr& o : informer->list()) names.push_back(name_of(o));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "c"}));
  informer->stop();
}

TEST_F(InformerFixture, RelistAfterGoneEmitsTheDifference) {
  client.push_list(
      pod_list("10", {pod("shop", "a", "5"), pod("shop", "b", "7"), pod("shop", "c", "8")}));
  client.push_watch({{bookmark("15")}, make_error(ErrorCode::kGone, "too old resource version")});
  client.push_list(
      pod_list("30", {pod("shop", "a", "25"), pod("shop", "c", "8"), pod("shop", "d", "28")}));
  auto informer = make();
  informer->start();
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 2; }));

  EXPECT_EQ(recorder.take(), (std::vector<std::string>{"add a", "add b", "add c", "delete b",
                                                       "update a 5->25", "add d"}));
  const std::vector<ListOptions> lists = client.list_calls();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[1].resource_version, "15");
  EXPECT_EQ(lists[1].resource_version_match, "NotOlderThan");
  EXPECT_EQ(client.watch_calls().at(1).resource_version, "30");
  EXPECT_EQ(informer->get("shop", "b"), nullptr);
  informer->stop();
}

TEST_F(InformerFixture, ListGoneFallsBackToAConsistentList) {
  client.push_list(pod_list("10", {pod("shop", "a", "5")}));
  client.push_watch({{bookmark("15")}, make_error(ErrorCode::kGone, "expired")});
  client.push_list(make_error(ErrorCode::kGone, "expired"));
  client.push_list(pod_list("40", {pod("shop", "a", "39")}));
  auto informer = make();
  informer->start();
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 2; }));
  const std::vector<ListOptions> lists = client.list_calls();
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[1].resource_version, "15");
  EXPECT_EQ(lists[2].resource_version, "");
  EXPECT_EQ(lists[2].resource_version_match, "");
  EXPECT_EQ(recorder.take(), (std::vector<std::string>{"add a", "update a 5->39"}));
  EXPECT_EQ(client.watch_calls().at(1).resource_version, "40");
  informer->stop();
}

TEST_F(InformerFixture, GoneRightAfterAListBacksOffAndReadsFromEtcd) {
  client.push_list(pod_list("10", {}));
  client.push_watch({{}, make_error(ErrorCode::kGone, "expired")});
  client.push_list(pod_list("40", {}));
  auto informer = make();
  informer->start();
  ASSERT_TRUE(finish_backoff(*informer, 1));
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 2; }));
  const std::vector<ListOptions> lists = client.list_calls();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[1].resource_version, "");
  EXPECT_EQ(client.watch_calls().at(1).resource_version, "40");
  informer->stop();
}

TEST_F(InformerFixture, WatchErrorsBackOffThenResumeThenRelist) {
  client.push_list(pod_list("10", {pod("shop", "a", "5")}));
  client.push_watch({{bookmark("12")}, make_error(ErrorCode::kUnavailable, "reset")});
  client.push_watch({{}, make_error(ErrorCode::kUnavailable, "refused")});
  client.push_list(pod_list("50", {pod("shop", "a", "5")}));
  auto informer = make();
  informer->start();

  // The informer waits out its backoff on the FakeClock before resuming.
  ASSERT_TRUE(finish_backoff(*informer, 1));
  ASSERT_TRUE(eventually([&] { return informer->backoffs() == 2; }));
  ASSERT_EQ(client.watch_calls().size(), 2u);
  EXPECT_EQ(client.watch_calls().at(1).resource_version, "12");
  EXPECT_EQ(client.list_calls().size(), 1u);

  // The resumed watch failed without delivering anything: relist.
  ASSERT_TRUE(finish_backoff(*informer, 2));
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 3; }));
  ASSERT_EQ(client.list_calls().size(), 2u);
  EXPECT_EQ(client.list_calls().at(1).resource_version, "12");
  EXPECT_EQ(client.watch_calls().at(2).resource_version, "50");
  EXPECT_EQ(recorder.take(), (std::vector<std::string>{"add a"}));  // nothing changed
  informer->stop();
}

TEST_F(InformerFixture, WatchesClosedAtOnceCountAsFailures) {
  client.push_list(pod_list("10", {}));
  client.push_watch({{}, Status()});
  client.push_watch({{}, Status()});
  client.push_list(pod_list("20", {}));
  auto informer = make();
  informer->start();
  // Two empty watches in a row that the server closed at once: back off, then
  // relist instead of spinning on watch requests.
  ASSERT_TRUE(finish_backoff(*informer, 1));
  ASSERT_TRUE(eventually([&] { return informer->backoffs() == 2; }));
  EXPECT_EQ(client.watch_calls().size(), 2u);
  EXPECT_EQ(client.list_calls().size(), 1u);
  ASSERT_TRUE(finish_backoff(*informer, 2));
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 3; }));
  EXPECT_EQ(client.list_calls().size(), 2u);
  EXPECT_EQ(client.watch_calls().at(2).resource_version, "20");
  informer->stop();
}

TEST_F(InformerFixture, ListErrorsAreRetried) {
  client.push_list(make_error(ErrorCode::kForbidden, "pods is forbidden"));
  client.push_list(pod_list("10", {pod("shop", "a", "5")}));
  auto informer = make();
  informer->start();
  ASSERT_TRUE(finish_backoff(*informer, 1));
  ASSERT_TRUE(synced(*informer));
  EXPECT_EQ(client.list_calls().size(), 2u);
  informer->stop();
}

TEST_F(InformerFixture, WaitForSyncGivesUpAtTheDeadline) {
  auto informer = make();  // no scripted list: every list fails
  informer->start();
  std::atomic<bool> returned{false};
  std::thread advancer([&] {
    (void)eventually([&] {
      clock.advance(seconds(1));
      informer->tick();
      return returned.load();
    });
  });
  EXPECT_FALSE(informer->wait_for_sync(seconds(30)));
  returned = true;
  advancer.join();
  informer->stop();
}

TEST_F(InformerFixture, IndexesFollowChanges) {
  const json owner = rs_owner();
  push_three_pods();
  client.push_watch(
      {{event(WatchEvent::Type::kModified, pod("shop", "a", "11", {{"app", "api"}}, json::array())),
        event(WatchEvent::Type::kDeleted, pod("ops", "c", "12"))},
       Status()});
  auto informer = make();
  informer->start();
  ASSERT_TRUE(synced(*informer));
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 2; }));

  auto names = [](const std::vector<ObjectPtr>& objs) {
    std::vector<std::string> out;
    for (const ObjectPtr& o : objs) out.push_back(name_of(o));
    return out;
  };
  EXPECT_EQ(names(informer->by_namespace("shop")), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(informer->by_namespace("ops").empty());
  EXPECT_TRUE(informer->by_owner("u1").empty());
  EXPECT_TRUE(informer->by_label("app", "web").empty());
  EXPECT_EQ(names(informer->by_label("app", "api")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(names(informer->by_label("app", "db")), (std::vector<std::string>{"b"}));
  informer->stop();
}

// by_namespace is a range of the ordered keys: a namespace that is a prefix of
// another's name ("shop" of "shop-eu") must not pull the other's objects in.
TEST_F(InformerFixture, NamespaceLookupKeepsPrefixNamespacesApart) {
  client.push_list(pod_list("10", {pod("shop", "a", "5"), pod("shop-eu", "b", "6"),
                                   pod("shop0", "c", "7"), pod("sho", "d", "8")}));
  auto informer = make();
  informer->start();
  ASSERT_TRUE(synced(*informer));
  auto names = [](const std::vector<ObjectPtr>& objs) {
    std::vector<std::string> out;
    for (const ObjectPtr& o : objs) out.push_back(name_of(o));
    return out;
  };
  EXPECT_EQ(names(informer->by_namespace("shop")), (std::vector<std::string>{"a"}));
  EXPECT_EQ(names(informer->by_namespace("shop-eu")), (std::vector<std::string>{"b"}));
  EXPECT_EQ(names(informer->by_namespace("sho")), (std::vector<std::string>{"d"}));
  EXPECT_TRUE(informer->by_namespace("").empty());
  EXPECT_TRUE(informer->by_namespace("sh").empty());
  informer->stop();
}

TEST_F(InformerFixture, IndexesAfterList) {
  const json owner = rs_owner();
  client.push_list(pod_list("10", {pod("shop", "a", "5", {{"app", "web"}}, owner),
                                   pod("ops", "c", "7", {{"app", "web"}}, owner)}));
  auto informer = make();
  informer->start();
  ASSERT_TRUE(synced(*informer));
  EXPECT_EQ(informer->by_owner("u1").size(), 2u);
  EXPECT_EQ(informer->by_label("app", "web").size(), 2u);
  EXPECT_EQ(informer->by_namespace("ops").size(), 1u);
  informer->stop();
}

TEST_F(InformerFixture, ResyncReplaysTheCacheAsUpdates) {
  client.push_list(pod_list("10", {pod("shop", "a", "5")}));
  InformerOptions opts;
  opts.resync_period = std::chrono::minutes(10);
  auto informer = make(std::move(opts));
  informer->start();
  ASSERT_TRUE(synced(*informer));
  EXPECT_EQ(recorder.take(), (std::vector<std::string>{"add a"}));
  ASSERT_TRUE(eventually([&] {
    clock.advance(std::chrono::minutes(1));
    informer->tick();
    return recorder.size() > 0;
  }));
  EXPECT_EQ(recorder.take().at(0), "update a 5->5");
  informer->stop();
}

TEST_F(InformerFixture, LateHandlersSeeTheCacheAndTransformApplies) {
  client.push_list(pod_list("10", {pod("shop", "a", "5")}));
  InformerOptions opts;
  opts.transform = strip_managed_fields;
  auto informer = make(std::move(opts));
  informer->start();
  ASSERT_TRUE(synced(*informer));
  EXPECT_FALSE(informer->get("shop", "a")->at("metadata").contains("managedFields"));

  Recorder late;
  informer->add_handlers(late.handlers());
  EXPECT_EQ(late.take(), (std::vector<std::string>{"add a"}));
  informer->stop();
}

TEST_F(InformerFixture, CompactCacheServesTheSameObjectsEventsAndIndexes) {
  const json owner = rs_owner();
  push_three_pods();
  client.push_watch(
      {{event(WatchEvent::Type::kModified, pod("shop", "a", "11", {{"app", "api"}}, json::array())),
        event(WatchEvent::Type::kModified, pod("shop", "a", "11", {{"app", "api"}})),  // same rv
        event(WatchEvent::Type::kDeleted, pod("ops", "c", "12")),
        event(WatchEvent::Type::kAdded, pod("shop", "d", "13", {{"app", "web"}}, owner))},
       make_error(ErrorCode::kGone, "too old resource version")});
  client.push_list(pod_list("30", {pod("shop", "a", "11", {{"app", "api"}}, json::array()),
                                   pod("shop", "d", "25", {{"app", "web"}}, owner)}));
  InformerOptions opts;
  opts.transform = strip_managed_fields;
  opts.compact = true;
  auto informer = make(std::move(opts));
  informer->start();
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 2; }));
  EXPECT_EQ(recorder.take(),
            (std::vector<std::string>{"add c", "add a", "add b", "update a 5->11", "delete c",
                                      "add d", "delete b", "update d 13->25"}));

  json want = pod("shop", "d", "25", {{"app", "web"}}, owner);
  want["metadata"].erase("managedFields");
  want["kind"] = "Pod";
  want["apiVersion"] = "v1";
  ObjectPtr d = informer->get("shop", "d");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(*d, want);
  auto names = [](const std::vector<ObjectPtr>& objs) {
    std::vector<std::string> out;
    for (const ObjectPtr& o : objs) out.push_back(name_of(o));
    return out;
  };
  EXPECT_EQ(names(informer->list()), (std::vector<std::string>{"a", "d"}));
  std::vector<std::string> each;
  informer->for_each([&](const ObjectPtr& o) { each.push_back(name_of(o)); });
  EXPECT_EQ(each, (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(names(informer->by_owner("u1")), (std::vector<std::string>{"d"}));
  EXPECT_EQ(informer->names_by_owner("u1"), (std::vector<std::string>{"d"}));
  EXPECT_TRUE(informer->names_by_owner("u9").empty());
  EXPECT_EQ(informer->cached_resource_version("shop", "d"), std::optional<std::string>("25"));
  EXPECT_EQ(informer->cached_resource_version("shop", "b"), std::nullopt);  // deleted
  EXPECT_EQ(names(informer->by_label("app", "api")), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(informer->by_label("app", "db").empty());
  EXPECT_TRUE(informer->by_namespace("ops").empty());

  Recorder late;
  informer->add_handlers(late.handlers());
  EXPECT_EQ(late.take(), (std::vector<std::string>{"add a", "add d"}));
  informer->stop();
}

TEST_F(InformerFixture, ThrowingHandlerDoesNotStopTheInformer) {
  client.push_list(pod_list("10", {pod("shop", "a", "5")}));
  client.push_watch({{event(WatchEvent::Type::kAdded, pod("shop", "b", "11"))}, Status()});
  auto informer = make();
  informer->add_handlers(
      EventHandlers{[](const ObjectPtr&) { throw std::runtime_error("bug"); }, nullptr, nullptr});
  informer->start();
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 2; }));
  EXPECT_EQ(recorder.take(), (std::vector<std::string>{"add a", "add b"}));
  informer->stop();
}

TEST_F(InformerFixture, StopCancelsABlockedWatch) {
  client.push_list(pod_list("10", {}));
  auto informer = make();
  informer->start();
  ASSERT_TRUE(eventually([&] { return client.watch_calls().size() == 1; }));
  informer->stop();  // returns only once the watch has been cancelled and joined
  EXPECT_TRUE(informer->has_synced());
}

TEST(JitteredBackoffTest, DoublesToTheCapAndResetsAfterQuiet) {
  FakeClock clock;
  double r = 0;
  JitteredBackoff backoff(clock, [&] { return r; });
  const std::vector<milliseconds> expected = {
      milliseconds(800),   milliseconds(1600),  milliseconds(3200),  milliseconds(6400),
      milliseconds(12800), milliseconds(25600), milliseconds(30000), milliseconds(30000)};
  for (milliseconds want : expected) EXPECT_EQ(backoff.next(), want);

  r = 0.5;  // jitter 1.0 adds up to the step itself
  EXPECT_EQ(backoff.next(), milliseconds(45000));

  clock.advance(std::chrono::minutes(2));
  EXPECT_EQ(backoff.next(), milliseconds(45000));  // exactly 2 min: not yet
  clock.advance(std::chrono::minutes(2) + milliseconds(1));
  EXPECT_EQ(backoff.next(), milliseconds(1200));
}

}  // namespace
}  // namespace orderguard::kube
