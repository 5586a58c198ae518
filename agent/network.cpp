#include "agent/network.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "agent/scoring.h"
#include "base/lines.h"

namespace orderguard::agent {
namespace {

bool hex_u32(std::string_view s, uint32_t* out) {
  if (s.size() != 8) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

// "0100007F:0050" or 32 hex digits + ":port".
bool parse_endpoint(std::string_view s, IpAddress* ip, uint16_t* port) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view addr = s.substr(0, colon);
  std::string_view port_hex = s.substr(colon + 1);
  unsigned p = 0;
  auto [pp, ec] = std::from_chars(port_hex.data(), port_hex.data() + port_hex.size(), p, 16);
  if (ec != std::errc() || pp != port_hex.data() + port_hex.size() || p > 0xffff) return false;
  *port = static_cast<uint16_t>(p);
  *ip = IpAddress{};
  if (addr.size() == 8) {
    uint32_t w = 0;
    if (!hex_u32(addr, &w)) return false;
    // The kernel prints the network-order word as a host-order integer; memcpy restores
    // the network byte order on the same host.
    ip->bytes[10] = 0xff;
    ip->bytes[11] = 0xff;
    std::memcpy(&ip->bytes[12], &w, 4);
    return true;
  }
  if (addr.size() == 32) {
    for (int i = 0; i < 4; ++i) {
      uint32_t w = 0;
      if (!hex_u32(addr.substr(static_cast<size_t>(i) * 8, 8), &w)) return false;
      std::memcpy(&ip->bytes[static_cast<size_t>(i) * 4], &w, 4);
    }
    return true;
  }
  return false;
}

}  // namespace

IpAddress IpAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.bytes[10] = 0xff;
  ip.bytes[11] = 0xff;
  ip.bytes[12] = a;
  ip.bytes[13] = b;
  ip.bytes[14] = c;
  ip.bytes[15] = d;
  return ip;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress ip;
  in_addr a4{};
  if (::inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    ip.bytes[10] = 0xff;
    ip.bytes[11] = 0xff;
    std::memcpy(&ip.bytes[12], &a4, 4);
    return ip;
  }
  in6_addr a6{};
  if (::inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::memcpy(ip.bytes.data(), &a6, 16);
    return ip;
  }
  return std::nullopt;
}

bool IpAddress::is_v4() const {
  for (int i = 0; i < 10; ++i) {
    if (bytes[static_cast<size_t>(i)] != 0) return false;
  }
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

bool IpAddress::is_loopback() const {
  if (is_v4()) return bytes[12] == 127;
  for (int i = 0; i < 15; ++i) {
    if (bytes[static_cast<size_t>(i)] != 0) return false;
  }
  return bytes[15] == 1;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    ::inet_ntop(AF_INET, &bytes[12], buf, sizeof(buf));
  } else {
    ::inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  }
  return buf;
}

std::vector<TcpEntry> parse_tcp_table(std::string_view text) {
  std::vector<TcpEntry> out;
  TextLines lines(text);
  std::string_view line;
  if (!lines.next(&line)) return out;  // the header
  while (lines.next(&line)) {
    std::vector<std::string_view> f;
    size_t i = 0;
    while (i < line.size() && f.size() < 10) {
      while (i < line.size() && line[i] == ' ') ++i;
      size_t s = i;
      while (i < line.size() && line[i] != ' ') ++i;
      if (i > s) f.push_back(line.substr(s, i - s));
    }
    if (f.size() < 10) continue;
    TcpEntry e;
    unsigned st = 0;
    auto [sp, sec] = std::from_chars(f[3].data(), f[3].data() + f[3].size(), st, 16);
    auto [ip, iec] = std::from_chars(f[9].data(), f[9].data() + f[9].size(), e.inode);
    if (sec != std::errc() || iec != std::errc() || ip != f[9].data() + f[9].size()) continue;
    e.state = static_cast<int>(st);
    if (!parse_endpoint(f[1], &e.local, &e.local_port) ||
        !parse_endpoint(f[2], &e.remote, &e.remote_port)) {
      continue;
    }
    out.push_back(e);
  }
  return out;
}

uint64_t parse_socket_link(std::string_view link) {
  constexpr std::string_view kPrefix = "socket:[";
  if (link.substr(0, kPrefix.size()) != kPrefix || link.back() != ']') return 0;
  std::string_view num = link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  return ec == std::errc() && p == num.data() + num.size() ? v : 0;
}

std::vector<IpAddress> SystemResolver::resolve(const std::string& host) {
  std::vector<IpAddress> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    IpAddress ip;
    if (a->ai_family == AF_INET) {
      ip.bytes[10] = 0xff;
      ip.bytes[11] = 0xff;
      std::memcpy(&ip.bytes[12], &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, 4);
    } else if (a->ai_family == AF_INET6) {
      std::memcpy(ip.bytes.data(), &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    out.push_back(ip);
  }
  ::freeaddrinfo(res);
  return out;
}

std::optional<std::string> PoolAddresses::lookup(const IpAddress& address) const {
  auto it = by_address.find(address);
  if (it == by_address.end()) return std::nullopt;
  return it->second;
}

PoolAddressBook::PoolAddressBook(Resolver* resolver, const Clock* clock,
                                 std::chrono::milliseconds period)
    : resolver_(resolver),
      clock_(clock),
      period_(period),
      current_(std::make_shared<const PoolAddresses>()) {}

PoolAddressBook::~PoolAddressBook() { stop(); }

void PoolAddressBook::set_hosts(std::vector<std::string> hosts) {
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (hosts == hosts_) return;
    hosts_ = std::move(hosts);
    hosts_changed_ = true;
  }
  cv_.notify_all();
}

bool PoolAddressBook::due() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hosts_changed_ || !resolved_at_ || clock_->now() - *resolved_at_ >= period_;
}

void PoolAddressBook::refresh() {
  std::lock_guard<std::mutex> one(refresh_mu_);
  std::vector<std::string> hosts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hosts = hosts_;
    hosts_changed_ = false;  // a set_hosts() during the resolution makes the book due again
  }
  // Published again whenever a host's addresses change, so a host that resolves quickly is
  // checked from the next scan on, however long the rest of the list takes.
  const auto publish = [&] {
    auto fresh = std::make_shared<PoolAddresses>();
    for (const auto& [host, ips] : by_host_) {
      for (const IpAddress& ip : ips) fresh->by_address.emplace(ip, host);
    }
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(fresh);
  };
  const size_t before = by_host_.size();
  std::erase_if(by_host_, [&](const auto& entry) {
    return !std::binary_search(hosts.begin(), hosts.end(), entry.first);
  });
  if (by_host_.size() != before) publish();
  for (const std::string& host : hosts) {
    {
      // Shutdown does not wait for the rest of a long list (each name may take a resolver
      // timeout).
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    std::vector<IpAddress> ips = resolver_->resolve(host);
    if (ips.empty()) continue;  // keeps what the host had
    std::sort(ips.begin(), ips.end());
    ips.erase(std::unique(ips.begin(), ips.end()), ips.end());
    auto [it, added] = by_host_.try_emplace(host, ips);
    if (!added && it->second == ips) continue;
    it->second = std::move(ips);
    publish();
  }
  std::lock_guard<std::mutex> lock(mu_);
  resolved_at_ = clock_->now();
  ++refreshes_;
}

std::shared_ptr<const PoolAddresses> PoolAddressBook::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

uint64_t PoolAddressBook::refreshes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refreshes_;
}

void PoolAddressBook::start() {
  std::lock_guard<std::mutex> guard(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        // Re-checked at least every period: the injected clock decides when a refresh is due,
        // the condition variable only how long to sleep before looking again.
        cv_.wait_for(lock, period_, [&] {
          return stopping_ || hosts_changed_ || !resolved_at_ ||
                 clock_->now() - *resolved_at_ >= period_;
        });
        if (stopping_) return;
      }
      if (due()) refresh();
    }
  });
}

void PoolAddressBook::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

NetworkView read_connections(const HostView& view, const std::vector<int>& pids,
                             const std::function<bool(const TcpEntry&)>& wanted,
                             const std::function<const std::string*(int pid)>& known) {
  NetworkView out;
  // Namespace -> its pids; the tables are read through the first one.
  std::map<std::string, std::vector<int>> namespaces;
  std::vector<int> unreadable;  // ns/net not readable (no ptrace rights over the process)
  for (int pid : pids) {
    if (const std::string* ns = known ? known(pid) : nullptr; ns != nullptr) {
      namespaces[*ns].push_back(pid);
      continue;
    }
    Result<std::string> ns = view.readlink_pid(pid, "ns/net");
    if (!ns) {
      unreadable.push_back(pid);
      continue;
    }
    namespaces[*ns].push_back(pid);
    out.namespace_of.emplace(pid, std::move(*ns));
  }
  if (!unreadable.empty()) {
    // /proc/<pid>/net/ needs no ptrace rights, and each namespace has its own net/tcp entry:
    // its inode tells the namespace apart. A process in a namespace already listed joins it
    // (its tables are not read twice); the others group by that inode. An unreadable net/tcp
    // puts the process in a group of its own, read through it.
    std::map<uint64_t, std::string> by_table;  // net/tcp inode -> namespace key
    for (const auto& [ns, members] : namespaces) {
      if (Result<FileStat> st = HostView::stat_path(view.pid_path(members.front(), "net/tcp"),
                                                    /*follow=*/true);
          st) {
        by_table.emplace(st->inode, ns);
      }
    }
    for (int pid : unreadable) {
      std::string key;
      if (Result<FileStat> st = HostView::stat_path(view.pid_path(pid, "net/tcp"), /*follow=*/true);
          st) {
        auto it = by_table.find(st->inode);
        key = it != by_table.end() ? it->second : "net/tcp:" + std::to_string(st->inode);
        by_table.emplace(st->inode, key);
      } else {
        key = "unreadable:" + std::to_string(pid);
      }
      namespaces[key].push_back(pid);
      out.namespace_of.emplace(pid, std::move(key));
    }
  }
  std::set<uint64_t> seen;
  std::map<uint64_t, TcpEntry> established;  // inode -> the connection, in wanted namespaces
  std::vector<int> owners_to_search;
  for (const auto& [ns, members] : namespaces) {
    bool any = false;
    bool wanted_here = false;
    // Through a member whose link was just read, when there is one: a known pid's namespace
    // is what it was when it was last read. A namespace of known pids only is not read.
    int reader = 0;
    for (int pid : members) {
      if (out.namespace_of.contains(pid)) {
        reader = pid;
        break;
      }
    }
    if (reader == 0) {
      ++out.namespaces_skipped;
      continue;
    }
    for (std::string_view file : {"net/tcp", "net/tcp6"}) {
      Result<std::string> text = view.read_pid(reader, file);
      if (!text) continue;
      any = true;
      for (const TcpEntry& e : parse_tcp_table(*text)) {
        if (e.state != kTcpEstablished || e.inode == 0 || !seen.insert(e.inode).second) continue;
        if (wanted && !wanted(e)) continue;
        established.emplace(e.inode, e);
        wanted_here = true;
      }
    }
    if (any) ++out.namespaces_read;
    if (wanted_here)
      owners_to_search.insert(owners_to_search.end(), members.begin(), members.end());
  }
  if (established.empty()) return out;
  std::sort(owners_to_search.begin(), owners_to_search.end());
  // inode -> pids, in pid order (a socket may be shared by several processes).
  std::map<uint64_t, std::vector<int>> owners;
  for (int pid : owners_to_search) {
    Result<std::vector<std::string>> fds = HostView::list_dir(view.pid_path(pid, "fd"));
    if (!fds) continue;
    for (const std::string& fd : *fds) {
      Result<std::string> link = HostView::read_link(view.pid_path(pid, "fd/" + fd));
      if (!link) continue;
      uint64_t inode = parse_socket_link(*link);
      if (inode == 0 || !established.contains(inode)) continue;
      std::vector<int>& list = owners[inode];
      if (list.empty() || list.back() != pid) list.push_back(pid);
    }
  }
  for (const auto& [inode, e] : established) {
    auto it = owners.find(inode);
    if (it == owners.end()) continue;
    for (int owner : it->second) out.connections.push_back(Connection{owner, e});
  }
  return out;
}

bool connection_of_interest(const TcpEntry& e, const policy::CompiledPolicy& pol,
                            const PoolAddresses* pools) {
  if (pools != nullptr && pools->lookup(e.remote)) return true;
  return !e.remote.is_loopback() && pol.miner_ports.count(e.remote_port) > 0;
}

std::map<int, std::vector<policy::Finding>> check_connections(const NetworkView& net,
                                                              const policy::CompiledPolicy& pol,
                                                              const PoolAddresses* pools) {
  std::map<int, std::vector<policy::Finding>> out;
  for (const Connection& c : net.connections) {
    const TcpEntry& e = c.entry;
    std::string endpoint = e.remote.to_string() + ":" + std::to_string(e.remote_port);
    if (pools != nullptr) {
      if (std::optional<std::string> host = pools->lookup(e.remote)) {
        out[c.pid].push_back(make_finding(kRulePoolConnection, "net.tcp",
                                          "connected to mining pool " + *host + " at " + endpoint,
                                          endpoint, pol.scoring));
        continue;
      }
    }
    // Loopback ports (8080, 8000, ...) are everywhere; a miner port only counts off-host.
    if (!e.remote.is_loopback() && pol.miner_ports.count(e.remote_port) > 0) {
      out[c.pid].push_back(make_finding(kRuleMinerPortConnection, "net.tcp",
                                        "connected to miner port " + endpoint, endpoint,
                                        pol.scoring));
    }
  }
  return out;
}

}  // namespace orderguard::agent
