// How the REST client words its failures (internal to kube/): a transport failure (kube/
// http_transport.h: an asio, OpenSSL or HTTP parse error at one step of a request), for the
// server it was talking to. The mapping of API Status answers to Error codes is public
// (error_from_status in kube/client.h).
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "kube/http_transport.h"

namespace orderguard::kube {

// A response body for an error message: trimmed, and cut after 1 KiB.
std::string trim_body(std::string_view s);

// A transport failure as the client reports and handles it.
struct TransportFailure {
  ErrorCode code = ErrorCode::kUnavailable;
  // What failed, naming the server: "connection refused by 127.0.0.1:6443".
  std::string text;
  // Nothing listens (or no route): later requests probe with a plain TCP connect first.
  bool refused = false;
  // The connection broke (closed, reset): the same request on a new connection may succeed.
  bool retryable = false;
};

// Describes `e` for the server at `address` ("127.0.0.1:6443").
TransportFailure describe_transport_failure(const TransportError& e, std::string_view address);

}  // namespace orderguard::kube
