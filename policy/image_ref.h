// Container image references, parsed and normalized per the distribution/reference grammar
// (reference.go, regexp.go, normalize.go of github.com/distribution/reference), so that every
// spelling of one image compares equal and spelling cannot evade a rule:
//
//   xmrig, xmrig:latest, library/xmrig, docker.io/xmrig, index.docker.io/library/xmrig,
//   registry-1.docker.io/library/xmrig  ->  docker.io/library/xmrig:latest
//
// Contract:
// - parse_image_ref never throws; invalid input is ErrorCode::kInvalid with the reason.
// - The first path component is a registry host when it contains '.' or ':', is `localhost`,
//   or has an uppercase letter (distribution's splitDockerDomain); otherwise the registry is
//   docker.io. `myregistry.io.evil.com/x` therefore has the domain `myregistry.io.evil.com`.
// - The domain is lowercased (host names are case-insensitive) and the Docker Hub aliases
//   index.docker.io, registry-1.docker.io and registry.hub.docker.com become docker.io. A port
//   is part of the domain (`localhost:5000`, `[::1]:5000`). A single-label host recognized
//   only by its uppercase letters (`LocalDomain/x`) is uppercased instead, so the normalized
//   form parses back to the same registry.
// - A docker.io path with one component gets `library/`.
// - The repository path must be lowercase ("repository name must be lowercase").
// - The tag defaults to `latest` only when there is no digest. A tag and a digest are both
//   kept: the digest decides what the kubelet pulls, the tag is informative only.
// - Digests are validated: sha256 (64), sha384 (96) or sha512 (128) lowercase hex digits.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace orderguard::policy {

struct ImageRef {
  std::string domain;  // "docker.io", "ghcr.io", "localhost:5000", "[::1]:5000"
  std::string path;    // "library/xmrig"
  std::string tag;     // "latest"; empty when only a digest was given
  std::string digest;  // "sha256:<64 hex>", or empty

  // domain/path, e.g. "docker.io/library/xmrig".
  std::string name() const;
  // name[:tag][@digest], e.g. "docker.io/library/xmrig:latest".
  std::string normalized() const;
  // The last path component ("xmrig"): attackers move a miner between registries and
  // accounts but rarely rename it, so built-in patterns match on it.
  std::string_view repository() const;

  bool operator==(const ImageRef&) const = default;
};

Result<ImageRef> parse_image_ref(std::string_view reference);

// Validates "algorithm:hex" as described above.
Status validate_digest(std::string_view digest);

// Helpers shared with the pattern and allowlist parsers (image_match.h), so that patterns are
// normalized exactly like references.
//
// True when the first component of a name is a registry host (see the contract above).
bool looks_like_domain(std::string_view first_component);
// Validates host[:port]; host is a DNS name, an IPv4 address or a bracketed IPv6 address.
bool valid_domain(std::string_view domain);
// Lowercases (uppercases a single-label host, see above) and maps the Docker Hub aliases to
// "docker.io".
std::string canonical_domain(std::string_view domain);
// path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | __ | [-]+
bool valid_path_component(std::string_view component);

inline constexpr std::string_view kDockerHub = "docker.io";

}  // namespace orderguard::policy
