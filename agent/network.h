// TCP connections per process: /proc/<pid>/net/tcp and tcp6 are read once per network
// namespace (processes are grouped by the inode in readlink(/proc/<pid>/ns/net)), socket
// inodes are mapped to pids through the `socket:[inode]` links in /proc/<pid>/fd, and each
// ESTABLISHED connection is checked against the miner ports and the resolved pool addresses.
//
// Addresses in those files are hex words in host byte order (research/detect.md section 4),
// so parse_tcp_table is only correct for files written by a kernel of this machine's
// endianness, which is the only case the agent meets. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are normalised to IPv4 so one pool address list serves both tables.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent/host_view.h"
#include "kube/clock.h"
#include "kube/result.h"
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

// Pool host names resolved to addresses, refreshed when older than `max_age` (pool DNS
// changes, and resolving on every scan would flood the resolver).
class PoolAddressBook {
 public:
  PoolAddressBook(Resolver* resolver, const Clock* clock, std::vector<std::string> hosts,
                  std::chrono::seconds max_age);

  // Resolves every host when the book is stale. Returns whether it resolved.
  bool refresh();
  // The pool host an address belongs to.
  std::optional<std::string> lookup(const IpAddress& address) const;
  size_t size() const { return by_address_.size(); }

 private:
  Resolver* resolver_;
  const Clock* clock_;
  std::vector<std::string> hosts_;
  std::chrono::seconds max_age_;
  std::optional<Clock::time_point> resolved_at_;
  std::map<IpAddress, std::string> by_address_;
};

struct Connection {
  int pid = 0;
  TcpEntry entry;
};

struct NetworkView {
  std::vector<Connection> connections;  // ESTABLISHED connections with an owning pid
  size_t namespaces_read = 0;
};

// Reads the tables of every distinct network namespace among `pids` and maps sockets to pids.
NetworkView read_connections(const HostView& view, const std::vector<int>& pids);

// Pure: findings per pid for connections to miner ports (weak) and pool addresses.
std::map<int, std::vector<policy::Finding>> check_connections(const NetworkView& net,
                                                              const policy::CompiledPolicy& policy,
                                                              const PoolAddressBook* pools);

}  // namespace orderguard::agent
