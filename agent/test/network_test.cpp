#include "agent/network.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "agent/test/test_util.h"
#include "e2e/support/wait.h"

namespace orderguard::agent {
namespace {

using testing::testdata;
using namespace std::chrono_literals;

// Answers from a map; the background test changes it while the book's thread resolves.
class FakeResolver final : public Resolver {
 public:
  std::vector<IpAddress> resolve(const std::string& host) override {
    std::lock_guard<std::mutex> lock(mu);
    auto it = answers.find(host);
    return it == answers.end() ? std::vector<IpAddress>{} : it->second;
  }
  std::mutex mu;
  std::map<std::string, std::vector<IpAddress>> answers;
};

TEST(ParseTcpTable, Ipv4) {
  std::vector<TcpEntry> t = parse_tcp_table(*HostView::read_file(testdata("proc/100/net/tcp")));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].state, 0x0A);
  EXPECT_EQ(t[0].local_port, 8080);
  EXPECT_EQ(t[1].state, kTcpEstablished);
  EXPECT_EQ(t[1].local.to_string(), "10.0.0.5");
  EXPECT_EQ(t[1].local_port, 40000);
  EXPECT_EQ(t[1].remote, IpAddress::v4(203, 0, 113, 10));
  EXPECT_EQ(t[1].remote_port, 3333);
  EXPECT_EQ(t[1].inode, 5001u);
  EXPECT_EQ(t[2].inode, 0u);  // TIME_WAIT: no owner
}

TEST(ParseTcpTable, Ipv6AndMapped) {
  std::vector<TcpEntry> t = parse_tcp_table(*HostView::read_file(testdata("proc/400/net/tcp6")));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_TRUE(t[0].remote.is_v4());
  EXPECT_EQ(t[0].remote.to_string(), "198.51.100.7");
  EXPECT_EQ(t[0].remote_port, 443);
  EXPECT_EQ(t[1].remote.to_string(), "2001:db8::1");
  EXPECT_EQ(t[1].remote_port, 14444);
  EXPECT_TRUE(t[2].remote.is_loopback());
  EXPECT_EQ(t[2].remote.to_string(), "::1");
}

TEST(ParseTcpTable, MalformedLinesAreSkipped) {
  EXPECT_TRUE(parse_tcp_table("").empty());
  EXPECT_TRUE(parse_tcp_table("header only\n").empty());
  EXPECT_TRUE(parse_tcp_table("h\n   0: garbage line\n").empty());
  EXPECT_TRUE(parse_tcp_table("h\n 0: 0100007F:ZZZZ 0100007F:0050 01 0:0 0:0 0 0 0 1\n").empty());
  EXPECT_TRUE(parse_tcp_table("h\n 0: 0100007F:0050 0100007F:0050 01 0:0 0:0 0 0 0\n").empty());
  EXPECT_TRUE(parse_tcp_table("h\n 0: 00007F:0050 0100007F:0050 01 0:0 0:0 0 0 0 5\n").empty());
  std::vector<TcpEntry> ok =
      parse_tcp_table("h\n 0: 0100007F:0050 0100007F:D000 01 0:0 0:0 0 0 0 5");  // no newline
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_TRUE(ok[0].local.is_loopback());
}

TEST(IpAddress, ParseAndPrint) {
  EXPECT_EQ(IpAddress::parse("1.2.3.4"), IpAddress::v4(1, 2, 3, 4));
  EXPECT_EQ(IpAddress::parse("::ffff:1.2.3.4"), IpAddress::v4(1, 2, 3, 4));
  EXPECT_EQ(IpAddress::parse("2001:db8::1")->to_string(), "2001:db8::1");
  EXPECT_FALSE(IpAddress::parse("pool.example").has_value());
}

TEST(SocketLink, Inode) {
  EXPECT_EQ(parse_socket_link("socket:[5001]"), 5001u);
  EXPECT_EQ(parse_socket_link("pipe:[5001]"), 0u);
  EXPECT_EQ(parse_socket_link("socket:[]"), 0u);
  EXPECT_EQ(parse_socket_link("socket:[12x]"), 0u);
  EXPECT_EQ(parse_socket_link("/dev/null"), 0u);
}

TEST(Connections, OneReadPerNamespaceAndSocketOwners) {
  HostView view({testdata("proc"), testdata("host")});
  NetworkView net = read_connections(view, *view.list_pids());
  // 100 in one namespace; 400 and 401 share another; the rest have no ns link and no
  // tables.
  EXPECT_EQ(net.namespaces_read, 2u);
  std::map<uint64_t, int> owner;
  for (const Connection& c : net.connections) owner[c.entry.inode] = c.pid;
  EXPECT_EQ(owner, (std::map<uint64_t, int>{{5001, 100}, {6001, 400}, {6002, 401}, {6003, 401}}));
  // The shared namespace's table was not read twice: each inode appears once.
  EXPECT_EQ(net.connections.size(), 4u);
}

TEST(Connections, AProcessWithoutANamespaceLinkJoinsItsNamespaceByTheTableInode) {
  // 401's ns/net cannot be read (as without ptrace rights); its net/tcp is the same kernel
  // entry as 400's (one inode per namespace): the namespace is read once, with both owners.
  testing::TempTree proc("proc");
  std::filesystem::remove(proc.path() + "/401/ns/net");
  std::filesystem::remove(proc.path() + "/401/net/tcp");
  std::filesystem::create_hard_link(proc.path() + "/400/net/tcp", proc.path() + "/401/net/tcp");
  HostView view({proc.path(), testdata("host")});
  NetworkView net = read_connections(view, *view.list_pids());
  EXPECT_EQ(net.namespaces_read, 2u);
  std::map<uint64_t, int> owner;
  for (const Connection& c : net.connections) owner[c.entry.inode] = c.pid;
  EXPECT_EQ(owner, (std::map<uint64_t, int>{{5001, 100}, {6001, 400}, {6002, 401}, {6003, 401}}));
}

TEST(Connections, ANamespaceOfKnownProcessesOnlyIsNotRead) {
  HostView view({testdata("proc"), testdata("host")});
  const std::string shared = "net:[4026532002]";  // 400 and 401
  auto known = [&](std::set<int> pids) {
    return [&shared, pids](int pid) -> const std::string* {
      return pids.contains(pid) ? &shared : nullptr;
    };
  };
  NetworkView both = read_connections(view, *view.list_pids(), nullptr, known({400, 401}));
  EXPECT_EQ(both.namespaces_read, 1u);
  EXPECT_EQ(both.namespaces_skipped, 1u);
  ASSERT_EQ(both.connections.size(), 1u);
  EXPECT_EQ(both.connections[0].pid, 100);
  EXPECT_FALSE(both.namespace_of.contains(400));

  // One member read afresh (new, exec'd, or checked in full this scan): the namespace is read,
  // and the known member's sockets are still mapped to it.
  NetworkView one = read_connections(view, *view.list_pids(), nullptr, known({400}));
  EXPECT_EQ(one.namespaces_read, 2u);
  std::map<uint64_t, int> owner;
  for (const Connection& c : one.connections) owner[c.entry.inode] = c.pid;
  EXPECT_EQ(owner, (std::map<uint64_t, int>{{5001, 100}, {6001, 400}, {6002, 401}, {6003, 401}}));
}

TEST(Connections, PoolAddressesAndMinerPorts) {
  HostView view({testdata("proc"), testdata("host")});
  NetworkView net = read_connections(view, *view.list_pids());
  FakeResolver resolver;
  resolver.answers["pool.supportxmr.com"] = {*IpAddress::parse("198.51.100.7")};
  FakeClock clock;
  PoolAddressBook pools(&resolver, &clock, std::chrono::minutes(10));
  pools.set_hosts({"pool.supportxmr.com", "nowhere.example"});
  pools.refresh();
  auto findings = check_connections(net, policy::built_in_default(), pools.snapshot().get());

  ASSERT_EQ(findings.at(400).size(), 1u);
  EXPECT_EQ(findings.at(400)[0].rule_id, "pool-connection");
  EXPECT_NE(findings.at(400)[0].message.find("pool.supportxmr.com"), std::string::npos);
  EXPECT_EQ(findings.at(400)[0].evidence, "198.51.100.7:443");
  ASSERT_EQ(findings.at(100).size(), 1u);
  EXPECT_EQ(findings.at(100)[0].rule_id, "miner-port");
  EXPECT_EQ(findings.at(100)[0].evidence, "203.0.113.10:3333");
  // 401: 2001:db8::1 port 14444 counts; its loopback connection to 53248 does not.
  ASSERT_EQ(findings.at(401).size(), 1u);
  EXPECT_EQ(findings.at(401)[0].evidence, "2001:db8::1:14444");
}

TEST(PoolAddressBook, DueWhenNewWhenTheHostsChangeAndAfterThePeriod) {
  FakeResolver resolver;
  resolver.answers["a.pool"] = {IpAddress::v4(1, 1, 1, 1)};
  FakeClock clock;
  PoolAddressBook book(&resolver, &clock, std::chrono::seconds(60));
  EXPECT_EQ(book.snapshot()->size(), 0u);  // never null, empty before the first refresh
  EXPECT_TRUE(book.due());
  book.set_hosts({"a.pool"});
  book.refresh();
  EXPECT_FALSE(book.due());
  EXPECT_EQ(book.snapshot()->lookup(IpAddress::v4(1, 1, 1, 1)), "a.pool");
  book.set_hosts({"a.pool", "a.pool"});  // the same list: not due
  EXPECT_FALSE(book.due());
  clock.advance(std::chrono::seconds(59));
  EXPECT_FALSE(book.due());
  clock.advance(std::chrono::seconds(1));
  EXPECT_TRUE(book.due());

  resolver.answers["a.pool"] = {IpAddress::v4(2, 2, 2, 2)};
  book.refresh();
  EXPECT_FALSE(book.snapshot()->lookup(IpAddress::v4(1, 1, 1, 1)).has_value());
  EXPECT_EQ(book.snapshot()->lookup(IpAddress::v4(2, 2, 2, 2)), "a.pool");
  book.set_hosts({"b.pool", "a.pool"});
  EXPECT_TRUE(book.due());
}

TEST(PoolAddressBook, ASnapshotTakenStaysAsItWasAcrossRefreshes) {
  FakeResolver resolver;
  resolver.answers["a.pool"] = {IpAddress::v4(1, 1, 1, 1)};
  FakeClock clock;
  PoolAddressBook book(&resolver, &clock, std::chrono::seconds(60));
  book.set_hosts({"a.pool"});
  book.refresh();
  std::shared_ptr<const PoolAddresses> held = book.snapshot();
  resolver.answers["a.pool"] = {IpAddress::v4(2, 2, 2, 2)};
  book.refresh();
  EXPECT_EQ(held->lookup(IpAddress::v4(1, 1, 1, 1)), "a.pool");
  EXPECT_FALSE(held->lookup(IpAddress::v4(2, 2, 2, 2)).has_value());
  EXPECT_EQ(book.snapshot()->lookup(IpAddress::v4(2, 2, 2, 2)), "a.pool");
}

TEST(PoolAddressBook, AFailedResolutionKeepsTheHostsAddressesARemovedHostDropsThem) {
  FakeResolver resolver;
  resolver.answers["a.pool"] = {IpAddress::v4(1, 1, 1, 1)};
  resolver.answers["b.pool"] = {IpAddress::v4(3, 3, 3, 3), *IpAddress::parse("2001:db8::3")};
  FakeClock clock;
  PoolAddressBook book(&resolver, &clock, std::chrono::seconds(60));
  book.set_hosts({"a.pool", "b.pool"});
  book.refresh();
  EXPECT_EQ(book.snapshot()->size(), 3u);

  resolver.answers.erase("a.pool");  // the resolver fails for a.pool
  book.refresh();
  EXPECT_EQ(book.snapshot()->lookup(IpAddress::v4(1, 1, 1, 1)), "a.pool");
  EXPECT_EQ(book.snapshot()->lookup(*IpAddress::parse("2001:db8::3")), "b.pool");

  book.set_hosts({"b.pool"});
  book.refresh();
  EXPECT_FALSE(book.snapshot()->lookup(IpAddress::v4(1, 1, 1, 1)).has_value());
  EXPECT_EQ(book.snapshot()->size(), 2u);
}

// The background thread resolves at once when hosts are set and again when they change; the
// test only polls for the published snapshot (no assertion on how long that takes).
TEST(PoolAddressBook, StartResolvesInTheBackgroundAndStopEndsIt) {
  FakeResolver resolver;
  resolver.answers["a.pool"] = {IpAddress::v4(1, 1, 1, 1)};
  resolver.answers["b.pool"] = {IpAddress::v4(2, 2, 2, 2)};
  FakeClock clock;
  PoolAddressBook book(&resolver, &clock, std::chrono::hours(1));
  book.start();
  book.set_hosts({"a.pool"});
  ASSERT_TRUE(e2e::eventually(
      [&] { return book.snapshot()->lookup(IpAddress::v4(1, 1, 1, 1)).has_value(); }, 60s));
  book.set_hosts({"b.pool"});
  ASSERT_TRUE(e2e::eventually(
      [&] {
        auto s = book.snapshot();
        return s->lookup(IpAddress::v4(2, 2, 2, 2)).has_value() &&
               !s->lookup(IpAddress::v4(1, 1, 1, 1)).has_value();
      },
      60s));
  book.stop();
  uint64_t refreshes = book.refreshes();
  book.set_hosts({"a.pool"});  // stopped: nothing resolves it any more
  book.stop();                 // idempotent
  EXPECT_EQ(book.refreshes(), refreshes);
  EXPECT_FALSE(book.snapshot()->lookup(IpAddress::v4(1, 1, 1, 1)).has_value());
}

}  // namespace
}  // namespace orderguard::agent
