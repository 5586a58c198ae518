// Errors of the REST client: API Status answers to Error codes, and transport failures to
// text a person can act on.
#include "kube/client_errors.h"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "kube/client.h"

namespace orderguard::kube {

namespace {

std::optional<ErrorCode> code_for_reason(std::string_view reason) {
  static const std::pair<std::string_view, ErrorCode> kReasons[] = {
      {"NotFound", ErrorCode::kNotFound},
      {"AlreadyExists", ErrorCode::kAlreadyExists},
      {"Conflict", ErrorCode::kConflict},
      {"Invalid", ErrorCode::kInvalid},
      {"BadRequest", ErrorCode::kInvalid},
      {"MethodNotAllowed", ErrorCode::kInvalid},
      {"NotAcceptable", ErrorCode::kInvalid},
      {"UnsupportedMediaType", ErrorCode::kInvalid},
      {"RequestEntityTooLarge", ErrorCode::kInvalid},
      {"Unauthorized", ErrorCode::kUnauthorized},
      {"Forbidden", ErrorCode::kForbidden},
      {"Gone", ErrorCode::kGone},
      {"Expired", ErrorCode::kGone},
      {"TooManyRequests", ErrorCode::kTooManyRequests},
      {"Timeout", ErrorCode::kTimeout},
      {"ServerTimeout", ErrorCode::kTimeout},
      {"ServiceUnavailable", ErrorCode::kUnavailable},
      {"InternalError", ErrorCode::kInternal},
  };
  for (const auto& [name, code] : kReasons) {
    if (name == reason) return code;
  }
  return std::nullopt;
}

ErrorCode code_for_http(int status) {
  switch (status) {
    case 400:
    case 405:
    case 406:
    case 413:
    case 415:
    case 422:
      return ErrorCode::kInvalid;
    case 401:
      return ErrorCode::kUnauthorized;
    case 403:
      return ErrorCode::kForbidden;
    case 404:
      return ErrorCode::kNotFound;
    case 408:
      return ErrorCode::kTimeout;
    case 409:
      return ErrorCode::kConflict;
    case 410:
      return ErrorCode::kGone;
    case 429:
      return ErrorCode::kTooManyRequests;
    case 500:
      return ErrorCode::kInternal;
    // A gateway or load balancer in front of the API server failing, or the
    // server shedding load: it should come back.
    case 502:
    case 503:
      return ErrorCode::kUnavailable;
    case 504:
      return ErrorCode::kTimeout;
    default:
      break;
  }
  if (status >= 500) return ErrorCode::kUnavailable;
  return ErrorCode::kInternal;
}

}  // namespace

std::string trim_body(std::string_view s) {
  constexpr size_t kMax = 1024;
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  std::string out(s.substr(first, last - first + 1));
  if (out.size() > kMax) out = out.substr(0, kMax) + "...";
  return out;
}

Error error_from_status(int http_status, const json& status_body) {
  Error e;
  e.http_status = http_status;
  if (status_body.is_object()) {
    if (auto it = status_body.find("message"); it != status_body.end() && it->is_string()) {
      e.message = it->get<std::string>();
    }
    if (auto it = status_body.find("reason"); it != status_body.end() && it->is_string()) {
      e.reason = it->get<std::string>();
    }
    if (auto it = status_body.find("details"); it != status_body.end() && it->is_object()) {
      e.details = *it;
    }
    if (e.http_status == 0) {
      if (auto it = status_body.find("code"); it != status_body.end() && it->is_number_integer()) {
        e.http_status = it->get<int>();
      }
    }
  } else if (status_body.is_string()) {
    e.message = trim_body(status_body.get_ref<const std::string&>());
  }

  if (auto by_reason = code_for_reason(e.reason)) {
    e.code = *by_reason;
  } else if (e.http_status != 0) {
    e.code = code_for_http(e.http_status);
  } else {
    e.code = ErrorCode::kInternal;
  }
  if (e.message.empty()) {
    e.message = e.http_status != 0 ? "the server answered HTTP " + std::to_string(e.http_status)
                                   : "the server reported a failure without a message";
    if (!e.reason.empty()) e.message += " (" + e.reason + ")";
  }
  return e;
}

TransportFailure describe_transport_failure(const TransportError& e, std::string_view address) {
  namespace asio = boost::asio;
  using Stage = TransportError::Stage;
  const std::string at(address);
  const boost::system::error_code& ec = e.ec;
  TransportFailure f;
  const bool timed_out = ec == boost::beast::error::timeout || ec == asio::error::timed_out;
  const bool closed = closed_by_peer(ec) || ec == boost::beast::http::error::partial_message;
  if (ec == asio::error::operation_aborted) {
    f.code = ErrorCode::kCancelled;
    f.text = "cancelled";
    return f;
  }
  if (timed_out) f.code = ErrorCode::kTimeout;
  switch (e.stage) {
    case Stage::kResolve:
      f.refused = true;
      f.text = "cannot resolve the address of " + at + " (" + ec.message() + ")";
      break;
    case Stage::kConnect:
      if (timed_out) {
        f.text = "connection to " + at + " timed out";
      } else if (ec == asio::error::connection_refused) {
        f.refused = true;
        f.text = "connection refused by " + at;
      } else if (ec == asio::error::host_unreachable || ec == asio::error::network_unreachable) {
        f.refused = true;
        f.text = "no route to " + at;
      } else {
        f.refused = true;
        f.text = "cannot connect to " + at + ": " + ec.message();
      }
      break;
    case Stage::kHandshake:
      if (timed_out) {
        f.text = "TLS handshake with " + at + " timed out";
      } else if (closed) {
        f.retryable = true;
        f.text = "connection closed by " + at + " during the TLS handshake";
      } else {
        // A certificate the client does not trust, or one the server refused: a new
        // connection gets the same answer.
        f.text = "TLS handshake with " + at + " failed: " + ec.message();
        if (!e.detail.empty()) f.text += " (" + e.detail + ")";
      }
      break;
    case Stage::kWrite:
      if (timed_out) {
        f.text = "sending the request to " + at + " timed out";
      } else {
        f.retryable = true;
        f.text = closed ? "connection closed by " + at + " while the request was sent"
                        : "cannot send the request to " + at + ": " + ec.message();
      }
      break;
    case Stage::kRead:
      if (timed_out) {
        f.text = "no answer from " + at + " in time";
      } else if (closed) {
        f.retryable = true;
        f.text = e.answered ? "connection closed by " + at + " before its answer was complete"
                            : "connection closed by " + at + " before it answered";
      } else {
        f.retryable = true;
        f.text = "cannot read the answer of " + at + ": " + ec.message();
      }
      break;
    case Stage::kParse:
      // A proxy or server speaking something else than HTTP/1.1: asking again would get the
      // same. An answer over the size limit is refused, not read.
      if (ec == boost::beast::http::error::body_limit) {
        f.code = ErrorCode::kInternal;
        f.text = "the answer of " + at + " is refused: " +
                 (e.detail.empty() ? std::string("its body is too large") : e.detail);
      } else {
        f.text = "invalid HTTP answer from " + at + ": " + ec.message();
        if (!e.detail.empty()) f.text += " (" + e.detail + ")";
      }
      break;
  }
  return f;
}

}  // namespace orderguard::kube
