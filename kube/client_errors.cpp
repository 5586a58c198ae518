// Errors of the REST client: API Status answers to Error codes, and transport failures to
// text a person can act on.
#include "kube/client_errors.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>

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

// Error codes from cpprest are plain ints: errno values, or packed OpenSSL
// errors whose Boost category was lost on the way ("Unknown error 167772294").
// Packed OpenSSL codes carry a library number above errno's range.
std::string describe_error_code(int value, const std::string& fallback) {
  if (value < 0 || value > 0xFFFF) {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(static_cast<unsigned int>(value)), buf,
                       sizeof buf);
    return buf;
  }
  return fallback;
}

// How cpprest's messages for a connection that could not be opened begin
// (resolving, then connecting); anything else failed on an open connection.
bool is_connect_failure(std::string_view what) {
  return what.starts_with("Failed to connect") || what.starts_with("Error resolving") ||
         what.starts_with("Failed to resolve");
}

// Whether `host` (as in a URL: a name, an IPv4 literal or a bracketed IPv6
// one) is this machine's loopback.
bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// The text of a transport failure cpprest reported as `what` with errno
// `value`, for the server at `address` ("127.0.0.1:6443"). cpprest folds
// errors together: a refused connect (ECONNREFUSED) and a write into a
// connection the server has closed (EPIPE) both arrive as EHOSTUNREACH, "No
// route to host". On loopback there is no route to lose, so there it is what
// it is: nothing listens on the port.
std::string transport_failure_text(std::string_view what, int value, std::string_view address,
                                   bool loopback) {
  const std::string at(address);
  if (what.starts_with("Error resolving") || what.starts_with("Failed to resolve")) {
    return "cannot resolve the address of " + at;
  }
  if (is_connect_failure(what)) {
    if (value == EHOSTUNREACH) {
      return loopback ? "connection refused by " + at
                      : "connection refused by, or no route to, " + at;
    }
    if (value == ETIMEDOUT) return "connection to " + at + " timed out";
    if (value == ECONNREFUSED) return "connection refused by " + at;
    return "cannot connect to " + at + ": " + std::generic_category().message(value);
  }
  if (what.starts_with("Failed to write request") && value == EHOSTUNREACH) {
    return "connection closed by " + at + " while the request was sent";
  }
  return {};
}

}  // namespace orderguard::kube
