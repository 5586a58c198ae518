// Whether anything accepts TCP connections at host:port: a plain connect and
// close, no TLS and no HTTP.
//
// The REST client calls it while the API server refuses connections (see
// client.cpp): no connection object, io_context or TLS state is set up for an
// attempt that cannot succeed, and the answer costs tens of microseconds of
// CPU. client-go's transport dials first and starts TLS only on an open
// connection, so a refused attempt is cheap there too.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace orderguard::kube {

// Connects to `host` (a name, an IPv4 literal or an IPv6 one, with or without
// brackets) on `port`, trying each resolved address in turn, and closes the
// connection at once. Success when one address accepted. The error names
// host:port and says what happened:
//   kUnavailable  refused ("connection refused by <host>:<port>"), no route,
//                 the name did not resolve, any other connect error
//   kTimeout      no answer within `timeout` (for all addresses together)
//   kCancelled    `cancelled` returned true (checked every 100 ms while waiting)
Status probe_tcp(std::string_view host, int port, std::chrono::milliseconds timeout,
                 const std::function<bool()>& cancelled = {});

// "host:port", with brackets around an IPv6 literal.
std::string host_port(std::string_view host, int port);

}  // namespace orderguard::kube
