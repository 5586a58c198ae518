// Fuzz target over the network parsers (agent/network.h): /proc/<pid>/net/tcp and tcp6
// tables, fd link targets (socket:[inode]) and address text, then the connection checks and
// the report the findings end in.
//
// Oracle: nothing throws; at most one entry per line after the header; every address parsed
// from a table prints as text that parses back to the same address; a socket inode is only
// read from "socket:[...]"; findings are at most one per connection; the outputs are
// sanitized (fuzz_oracle.h).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/fuzz/fuzz_oracle.h"
#include "agent/network.h"

namespace {

using namespace orderguard;
using namespace orderguard::agent;
using agent::fuzz::fail;

void round_trip(const IpAddress& ip, std::string_view input) {
  std::optional<IpAddress> back = IpAddress::parse(ip.to_string());
  if (!back || *back != ip) fail("an address does not survive to_string and parse", input);
}

void check(std::string_view input) {
  const std::vector<TcpEntry> entries = parse_tcp_table(input);
  if (entries.size() > agent::fuzz::count(input, '\n')) fail("more entries than lines", input);
  NetworkView net;
  PoolAddresses pools;
  for (size_t i = 0; i < entries.size(); ++i) {
    round_trip(entries[i].local, input);
    round_trip(entries[i].remote, input);
    net.connections.push_back(Connection{static_cast<int>(i) + 1, entries[i]});
    // Every other remote end is a "pool", so both kinds of finding are made.
    if (i % 2 == 0) pools.by_address.emplace(entries[i].remote, "pool.example");
  }
  size_t pos = 0;
  while (pos <= input.size()) {
    size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(pos, end - pos);
    if (parse_socket_link(line) != 0 &&
        (line.substr(0, 8) != "socket:[" || line.empty() || line.back() != ']')) {
      fail("a socket inode read from a link that is not socket:[...]", input);
    }
    if (std::optional<IpAddress> ip = IpAddress::parse(line)) round_trip(*ip, input);
    pos = end + 1;
  }

  const auto findings = check_connections(net, agent::fuzz::built_in_policy(), &pools);
  ScanReport report;
  size_t total = 0;
  for (const auto& [pid, list] : findings) {
    total += list.size();
    ProcessReport p;
    p.pid = pid;
    p.findings = list;
    report.processes.push_back(std::move(p));
  }
  if (total > net.connections.size()) fail("more findings than connections", input);
  for (const Connection& c : net.connections) {
    (void)connection_of_interest(c.entry, agent::fuzz::built_in_policy(), &pools);
  }
  agent::fuzz::check_outputs(report, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return agent::fuzz::run_input(data, size, check);
}
