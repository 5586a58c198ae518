#include "policy/image_ref.h"

#include <algorithm>

namespace orderguard::policy {
namespace {

// distribution/reference: NameTotalLengthMax and the tag grammar [\w][\w.-]{0,127}.
constexpr size_t kNameTotalLengthMax = 255;
constexpr size_t kTagLengthMax = 128;
// Far above any valid reference (name + tag + sha512 digest); bounds work on hostile input.
constexpr size_t kReferenceLengthMax = 1024;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

bool has_upper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

Error invalid(std::string_view reference, std::string_view reason) {
  std::string shown(reference.substr(0, 200));
  return make_error(ErrorCode::kInvalid,
                    "invalid image reference \"" + shown + "\": " + std::string(reason));
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool valid_domain_component(std::string_view c) {
  if (c.empty() || !is_alnum(c.front()) || !is_alnum(c.back())) return false;
  return std::all_of(c.begin(), c.end(), [](char ch) { return is_alnum(ch) || ch == '-'; });
}

bool valid_port(std::string_view port) {
  return !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), is_digit);
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kTagLengthMax || !is_word(tag.front())) return false;
  return std::all_of(tag.begin(), tag.end(),
                     [](char c) { return is_word(c) || c == '.' || c == '-'; });
}

}  // namespace

bool looks_like_domain(std::string_view first_component) {
  return first_component.find_first_of(".:") != std::string_view::npos ||
         first_component == "localhost" || has_upper(first_component);
}

bool valid_domain(std::string_view domain) {
  if (domain.empty()) return false;
  std::string_view rest;
  if (domain.front() == '[') {
    size_t close = domain.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    std::string_view v6 = domain.substr(1, close - 1);
    bool ok = std::all_of(v6.begin(), v6.end(), [](char c) {
      return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':';
    });
    if (!ok) return false;
    rest = domain.substr(close + 1);
  } else {
    size_t colon = domain.find(':');
    std::string_view host = domain.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : domain.substr(colon);
    size_t start = 0;
    while (true) {
      size_t dot = host.find('.', start);
      if (!valid_domain_component(host.substr(start, dot - start))) return false;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  if (rest.empty()) return true;
  return rest.front() == ':' && valid_port(rest.substr(1));
}

std::string canonical_domain(std::string_view domain) {
  std::string d = lowercase(domain);
  // index.docker.io is canonicalized by distribution itself; registry-1.docker.io is the real
  // Docker Hub registry host (normalize.go comment) and registry.hub.docker.com serves the
  // same API, but neither is canonicalized there, so a blocklist keyed on docker.io would miss
  // them, and attackers spell the host however evades a rule.
  if (d == "index.docker.io" || d == "registry-1.docker.io" || d == "registry.hub.docker.com") {
    return std::string(kDockerHub);
  }
  // A single-label host such as LOCALDOMAIN is a domain only because of its uppercase letters;
  // lowercased it would parse back as a Docker Hub account. Keep it in one case that is still
  // a domain, so that the normalized form round-trips and case variants stay equal.
  if (d.find_first_of(".:[") == std::string::npos && d != "localhost") {
    std::transform(d.begin(), d.end(), d.begin(), [](unsigned char c) {
      return static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    });
  }
  return d;
}

bool valid_path_component(std::string_view c) {
  size_t i = 0;
  while (true) {
    size_t run = i;
    while (i < c.size() && is_lower_alnum(c[i])) ++i;
    if (i == run) return false;  // every separator sits between two alphanumeric runs
    if (i == c.size()) return true;
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < c.size() && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return false;
    }
  }
}

Status validate_digest(std::string_view digest) {
  size_t colon = digest.find(':');
  if (colon == std::string_view::npos) {
    return make_error(ErrorCode::kInvalid, "digest must be algorithm:hex");
  }
  std::string_view algorithm = digest.substr(0, colon);
  std::string_view hex = digest.substr(colon + 1);
  size_t want = 0;
  if (algorithm == "sha256") {
    want = 64;
  } else if (algorithm == "sha384") {
    want = 96;
  } else if (algorithm == "sha512") {
    want = 128;
  } else {
    return make_error(ErrorCode::kInvalid, "unsupported digest algorithm \"" +
                                               std::string(algorithm.substr(0, 32)) +
                                               "\" (sha256, sha384 or sha512)");
  }
  if (hex.size() != want || !std::all_of(hex.begin(), hex.end(), is_lower_hex)) {
    return make_error(ErrorCode::kInvalid, std::string(algorithm) + " digest must be " +
                                               std::to_string(want) + " lowercase hex digits");
  }
  return {};
}

std::string ImageRef::name() const { return domain + "/" + path; }

std::string ImageRef::normalized() const {
  std::string out = name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string_view ImageRef::repository() const {
  std::string_view p = path;
  size_t slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

Result<ImageRef> parse_image_ref(std::string_view reference) {
  if (reference.empty()) return invalid(reference, "empty reference");
  if (reference.size() > kReferenceLengthMax) return invalid(reference, "reference too long");
  for (char c : reference) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return invalid(reference, "contains whitespace or control characters");
    }
  }
  if (reference.size() == 64 && std::all_of(reference.begin(), reference.end(), is_lower_hex)) {
    return invalid(reference, "cannot specify 64-byte hexadecimal strings");
  }

  ImageRef ref;
  std::string_view rest = reference;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    std::string_view digest = rest.substr(at + 1);
    if (Status s = validate_digest(digest); !s.ok()) {
      return invalid(reference, s.error().message);
    }
    ref.digest = std::string(digest);
    rest = rest.substr(0, at);
  }
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    std::string_view tag = rest.substr(colon + 1);
    if (!valid_tag(tag)) return invalid(reference, "invalid tag");
    ref.tag = std::string(tag);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return invalid(reference, "missing repository name");

  std::string_view domain = kDockerHub;
  std::string_view path = rest;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (looks_like_domain(first)) {
      domain = first;
      path = rest.substr(slash + 1);
    }
  }
  if (!valid_domain(domain)) return invalid(reference, "invalid registry host");
  if (has_upper(path)) return invalid(reference, "repository name must be lowercase");
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    if (!valid_path_component(path.substr(start, slash - start))) {
      return invalid(reference, "invalid repository path");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }

  ref.domain = canonical_domain(domain);
  ref.path = std::string(path);
  if (ref.domain == kDockerHub && ref.path.find('/') == std::string::npos) {
    ref.path = "library/" + ref.path;
  }
  if (ref.domain.size() + 1 + ref.path.size() > kNameTotalLengthMax) {
    return invalid(reference, "repository name must not be more than 255 characters");
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace orderguard::policy
