// Matching over normalized image references (image_ref.h): glob patterns for blocklists and
// registry prefixes for the allowlist. Patterns are normalized with the same rules as
// references, so `xmrig` as a pattern blocks every spelling of docker.io/library/xmrig.
//
// Glob patterns:
// - `*` matches within one path component (no '/'), `?` one character (not '/'), `**` any
//   run of characters across components; `**/` also matches zero components.
// - A pattern whose first component is `**` matches any registry: `**/xmrig` blocks an image
//   named xmrig on every registry and account, because attackers move a miner between
//   registries but rarely rename it.
// - Otherwise the first component is a registry host under the reference rules
//   (`*.evil.com/**`, `ghcr.io/x/*`), or the pattern is a Docker Hub name (`*/xmrig` is
//   docker.io/*/xmrig, `xmrig` is docker.io/library/xmrig). Domains are lowercased and Docker
//   Hub aliases mapped to docker.io; paths are lowercased (references must be lowercase).
// - Without a tag a pattern matches the name with any tag or digest; with a tag
//   (`xmrig:6.*`) it matches `name:tag`, never a digest-only reference. Digests are matched
//   by exact digest lists instead (`@` in a pattern is refused).
// - Matching runs on RE2 (linear time); patterns are bounded in length.
//
// Registry allowlist entries are `host[:port]` or `host[:port]/path-prefix` and match at
// component boundaries only: `myregistry.io` does not allow `myregistry.io.evil.com/x`, and
// `docker.io/mycompany` does not allow `docker.io/mycompanyevil/x`. No `library/` is added to
// an allowlist entry: `docker.io/nginx` is the namespace nginx/, official images are
// `docker.io/library`.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "policy/image_ref.h"

namespace re2 {
class RE2;
}

namespace orderguard::policy {

inline constexpr size_t kMaxImagePatternLength = 512;

class ImagePattern {
 public:
  static Result<ImagePattern> compile(std::string_view pattern);

  ImagePattern(ImagePattern&&) noexcept;
  ImagePattern& operator=(ImagePattern&&) noexcept;
  ~ImagePattern();

  bool matches(const ImageRef& ref) const;
  const std::string& source() const { return source_; }
  // The pattern after normalization, e.g. "docker.io/library/xmrig".
  const std::string& normalized() const { return normalized_; }

 private:
  ImagePattern() = default;

  std::string source_;
  std::string normalized_;
  // normalized_ up to its first wildcard: every match starts with it, so a reference
  // that does not is rejected without running the regex.
  std::string literal_prefix_;
  bool has_tag_ = false;
  std::unique_ptr<re2::RE2> re_;
};

class RegistryPrefix {
 public:
  static Result<RegistryPrefix> parse(std::string_view entry);

  bool allows(const ImageRef& ref) const;
  const std::string& domain() const { return domain_; }
  const std::string& path() const { return path_; }  // empty: the whole registry
  std::string normalized() const { return path_.empty() ? domain_ : domain_ + "/" + path_; }

 private:
  std::string domain_;
  std::string path_;
};

}  // namespace orderguard::policy
