// TCP connections per process: /proc/<pid>/net/tcp and tcp6 are read once per network
// namespace (processes are grouped by the inode in readlink(/proc/<pid>/ns/net)), socket
// inodes are mapped to pids through the `socket:[inode]` links in /proc/<pid>/fd, and each
// ESTABLISHED connection is checked against the miner ports and the resolved pool addresses.
//
// Addresses in those files are hex words in host byte order (proc(5), /proc/net/tcp),
// so parse_tcp_table is only correct for files written by a kernel of this machine's
// endianness, which is the only case the agent meets. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are normalised to IPv4 so one pool address list serves both tables.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/host_view.h"
#include "base/clock.h"
#include "base/result.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

// IPv4 is stored as an IPv4-mapped IPv6 address.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  static IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  static std::optional<IpAddress> parse(std::string_view text);  // dotted quad or IPv6
  bool is_v4() const;
  bool is_loopback() const;
  std::string to_string() const;
  auto operator<=>(const IpAddress&) const = default;
};

inline constexpr int kTcpEstablished = 0x01;

struct TcpEntry {
  IpAddress local;
  uint16_t local_port = 0;
  IpAddress remote;
  uint16_t remote_port = 0;
  int state = 0;
  uint64_t inode = 0;
};

// Pure: a whole /proc/net/tcp or tcp6 file. Malformed lines are skipped, never guessed.
std::vector<TcpEntry> parse_tcp_table(std::string_view text);

// The inode of "socket:[12345]", or 0.
uint64_t parse_socket_link(std::string_view link);

class Resolver {
 public:
  virtual ~Resolver() = default;
  virtual std::vector<IpAddress> resolve(const std::string& host) = 0;
};

// getaddrinfo; blocking, so it is only called from PoolAddressBook::refresh.
class SystemResolver final : public Resolver {
 public:
  std::vector<IpAddress> resolve(const std::string& host) override;
};

// Resolved pool addresses and the pool host each came from. Immutable once published, so a
// scan reads one consistent set while the next one is being resolved.
struct PoolAddresses {
  std::map<IpAddress, std::string> by_address;

  // The pool host an address belongs to.
  std::optional<std::string> lookup(const IpAddress& address) const;
  size_t size() const { return by_address.size(); }
};

// Pool host names resolved to addresses, off the scan path: refresh() resolves (blocking, DNS)
// and publishes a new immutable PoolAddresses each time a host's addresses change (so a host
// that resolves at once is not held back by slow ones); a scan only takes snapshot(), which
// never waits on DNS. start() runs refresh() on a thread of its own when the book is due: at once
// after set_hosts() changes the list, then every `period` (pool DNS changes, and resolving on every
// scan would flood the resolver). Without start(), the owner calls refresh() itself (the
// one-shot CLI, tests).
//
// Host names are resolved as exact hosts: a subdomain wildcard (poolHosts: nanopool.org also
// matches xmr-eu1.nanopool.org by name) cannot be enumerated through DNS, so only the name
// itself contributes addresses; the name rules still catch the subdomains in command lines.
// A host that resolves to nothing keeps the addresses it had (a failing resolver must not
// blind the scan); a host removed from the list drops its addresses at the next refresh.
//
// Thread-safe. `resolver` and `clock` must outlive the book; the destructor stops the thread.
class PoolAddressBook {
 public:
  PoolAddressBook(Resolver* resolver, const Clock* clock, std::chrono::milliseconds period);
  ~PoolAddressBook();
  PoolAddressBook(const PoolAddressBook&) = delete;
  PoolAddressBook& operator=(const PoolAddressBook&) = delete;

  // The hosts to resolve (order and duplicates do not matter). A different list makes the
  // book due at once.
  void set_hosts(std::vector<std::string> hosts);
  // Whether refresh() should run: never resolved, the list changed, or `period` has passed.
  bool due() const;
  // Resolves every host now and publishes the result.
  void refresh();
  // The latest published addresses (empty before the first refresh); never null.
  std::shared_ptr<const PoolAddresses> snapshot() const;
  // Completed refresh() calls.
  uint64_t refreshes() const;

  // Runs refresh() whenever due() on a background thread until stop() (idempotent).
  void start();
  void stop();

 private:
  Resolver* resolver_;
  const Clock* clock_;
  std::chrono::milliseconds period_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> hosts_;  // sorted, unique
  bool hosts_changed_ = true;
  std::optional<Clock::time_point> resolved_at_;
  std::shared_ptr<const PoolAddresses> current_;
  uint64_t refreshes_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  std::mutex refresh_mu_;                                  // one refresh at a time; guards by_host_
  std::map<std::string, std::vector<IpAddress>> by_host_;  // the latest addresses per host
};

struct Connection {
  int pid = 0;
  TcpEntry entry;
};

struct NetworkView {
  std::vector<Connection> connections;  // ESTABLISHED connections with an owning pid
  size_t namespaces_read = 0;
  size_t namespaces_skipped = 0;  // every member `known`: tables not read
  // pid -> readlink(/proc/<pid>/ns/net), for the pids whose link was read (not `known`).
  std::unordered_map<int, std::string> namespace_of;
};

// Reads the tables of every distinct network namespace among `pids` and maps sockets to pids.
// With `wanted`, only ESTABLISHED connections it accepts are mapped, and the fd links of the
// processes are only walked in namespaces holding such a connection: on a clean host no
// /proc/<pid>/fd is listed at all. With `known`, a pid it names (a process the caller saw
// unchanged, scanner.h) is taken to be in that namespace without its ns/net link being read,
// and a namespace whose every member is known is not read at all: none of them had a
// connection finding at its last full check or has used a CPU tick since, and a process that
// is new, exec'd or checked in full in this scan makes its namespace read.
NetworkView read_connections(const HostView& view, const std::vector<int>& pids,
                             const std::function<bool(const TcpEntry&)>& wanted = nullptr,
                             const std::function<const std::string*(int pid)>& known = nullptr);

// Pure: whether check_connections can make a finding of `entry`: its remote end is a pool
// address, or a miner port off this host.
bool connection_of_interest(const TcpEntry& entry, const policy::CompiledPolicy& policy,
                            const PoolAddresses* pools);

// Pure: findings per pid for connections to miner ports (weak) and pool addresses.
std::map<int, std::vector<policy::Finding>> check_connections(const NetworkView& net,
                                                              const policy::CompiledPolicy& policy,
                                                              const PoolAddresses* pools);

}  // namespace orderguard::agent
