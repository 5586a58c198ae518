// How the REST client words its failures (internal to kube/): a transport error reported by
// cpprestsdk, for the server it was talking to. The mapping of API Status answers to Error
// codes is public (error_from_status in kube/client.h).
#pragma once

#include <string>
#include <string_view>

namespace orderguard::kube {

// A response body for an error message: trimmed, and cut after 1 KiB.
std::string trim_body(std::string_view s);

// Error codes from cpprest are plain ints: errno values, or packed OpenSSL
// errors whose Boost category was lost on the way ("Unknown error 167772294").
// Packed OpenSSL codes carry a library number above errno's range.
std::string describe_error_code(int value, const std::string& fallback);

// How cpprest's messages for a connection that could not be opened begin
// (resolving, then connecting); anything else failed on an open connection.
bool is_connect_failure(std::string_view what);

// Whether `host` (as in a URL: a name, an IPv4 literal or a bracketed IPv6
// one) is this machine's loopback.
bool is_loopback_host(std::string_view host);

// The text of a transport failure cpprest reported as `what` with errno
// `value`, for the server at `address` ("127.0.0.1:6443"). cpprest folds
// errors together: a refused connect (ECONNREFUSED) and a write into a
// connection the server has closed (EPIPE) both arrive as EHOSTUNREACH, "No
// route to host". On loopback there is no route to lose, so there it is what
// it is: nothing listens on the port.
std::string transport_failure_text(std::string_view what, int value, std::string_view address,
                                   bool loopback);

}  // namespace orderguard::kube
