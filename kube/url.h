// The URL pieces of API requests, shared by the resource table and the REST client (internal
// to kube/).
#pragma once

#include <string>
#include <string_view>

namespace orderguard::kube {

// Percent-encodes everything but RFC 3986 unreserved characters (and `also_allowed`). Used for
// query values (label selectors hold '=', ',', '!') and path segments.
std::string percent_encode(std::string_view in, std::string_view also_allowed = {});

// A path segment: names may hold ':' and '@' unencoded.
std::string path_segment(std::string_view s);

// Builds "?a=1&b=2" with encoded values; empty values are left out because the
// API server treats an empty parameter like an absent one.
class Query {
 public:
  Query& add(std::string_view key, std::string_view value);
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

}  // namespace orderguard::kube
