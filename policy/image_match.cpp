#include "policy/image_match.h"

#include <re2/re2.h>

#include <algorithm>
#include <vector>

namespace orderguard::policy {
namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

// Glob to an RE2 pattern: `**/` -> (?:.*/)?, `**` -> .*, `*` -> [^/]*, `?` -> [^/].
std::string glob_to_regex(std::string_view glob) {
  std::string out;
  for (size_t i = 0; i < glob.size(); ++i) {
    char c = glob[i];
    if (c == '*' && i + 1 < glob.size() && glob[i + 1] == '*') {
      ++i;
      if (i + 1 < glob.size() && glob[i + 1] == '/') {
        ++i;
        out += "(?:.*/)?";
      } else {
        out += ".*";
      }
    } else if (c == '*') {
      out += "[^/]*";
    } else if (c == '?') {
      out += "[^/]";
    } else {
      out += RE2::QuoteMeta(std::string_view(&glob[i], 1));
    }
  }
  return out;
}

Error pattern_error(std::string_view pattern, std::string_view reason) {
  return make_error(ErrorCode::kInvalid, "invalid image pattern \"" +
                                             std::string(pattern.substr(0, 200)) +
                                             "\": " + std::string(reason));
}

}  // namespace

ImagePattern::ImagePattern(ImagePattern&&) noexcept = default;
ImagePattern& ImagePattern::operator=(ImagePattern&&) noexcept = default;
ImagePattern::~ImagePattern() = default;

Result<ImagePattern> ImagePattern::compile(std::string_view pattern) {
  if (pattern.empty()) return pattern_error(pattern, "empty pattern");
  if (pattern.size() > kMaxImagePatternLength) return pattern_error(pattern, "pattern too long");
  for (char c : pattern) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return pattern_error(pattern, "contains whitespace or control characters");
    }
  }
  if (pattern.find('@') != std::string_view::npos) {
    return pattern_error(pattern, "digests are matched by blockedDigests, not patterns");
  }

  std::string_view name = pattern;
  std::string_view tag;
  size_t last_slash = pattern.rfind('/');
  size_t colon = pattern.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    tag = pattern.substr(colon + 1);
    name = pattern.substr(0, colon);
    if (tag.empty()) return pattern_error(pattern, "empty tag");
  }
  if (name.empty()) return pattern_error(pattern, "missing name");

  std::vector<std::string_view> parts = split(name, '/');
  if (std::any_of(parts.begin(), parts.end(), [](std::string_view p) { return p.empty(); })) {
    return pattern_error(pattern, "empty path component");
  }
  std::string normalized;
  if (parts.front() == "**") {
    normalized = lowercase(name);
  } else {
    std::string domain(kDockerHub);
    size_t path_start = 0;
    if (parts.size() > 1 && looks_like_domain(parts.front())) {
      domain = canonical_domain(parts.front());
      path_start = 1;
    }
    std::string path;
    for (size_t i = path_start; i < parts.size(); ++i) {
      if (!path.empty()) path += '/';
      path += lowercase(parts[i]);
    }
    // docker.io/x is docker.io/library/x, unless the single component spans components.
    if (domain == kDockerHub && parts.size() - path_start == 1 &&
        path.find("**") == std::string::npos) {
      path = "library/" + path;
    }
    normalized = domain + "/" + path;
  }

  ImagePattern compiled;
  compiled.source_ = std::string(pattern);
  compiled.has_tag_ = !tag.empty();
  std::string regex = glob_to_regex(normalized);
  if (compiled.has_tag_) {
    normalized += ":" + std::string(tag);
    regex += ":" + glob_to_regex(tag);
  }
  compiled.literal_prefix_ = normalized.substr(0, normalized.find_first_of("*?"));
  compiled.normalized_ = std::move(normalized);
  RE2::Options options;
  options.set_log_errors(false);
  compiled.re_ = std::make_unique<RE2>(regex, options);
  if (!compiled.re_->ok()) return pattern_error(pattern, compiled.re_->error());
  return compiled;
}

bool ImagePattern::matches(const ImageRef& ref) const {
  // Does name[:tag] start with literal_prefix_? Compared piece by piece, unallocated.
  std::string_view prefix = literal_prefix_;
  auto eat = [&prefix](std::string_view part) {
    size_t n = std::min(prefix.size(), part.size());
    if (prefix.compare(0, n, part.substr(0, n)) != 0) return false;
    prefix.remove_prefix(n);
    return true;
  };
  if (!eat(ref.domain) || !eat("/") || !eat(ref.path)) return false;
  if (!prefix.empty() && (!has_tag_ || !eat(":") || !eat(ref.tag) || !prefix.empty())) {
    return false;
  }
  if (has_tag_) {
    if (ref.tag.empty()) return false;
    return RE2::FullMatch(ref.name() + ":" + ref.tag, *re_);
  }
  return RE2::FullMatch(ref.name(), *re_);
}

Result<RegistryPrefix> RegistryPrefix::parse(std::string_view entry) {
  auto fail = [&](std::string_view reason) {
    return make_error(
        ErrorCode::kInvalid,
        "invalid registry \"" + std::string(entry.substr(0, 200)) + "\": " + std::string(reason));
  };
  std::string_view e = entry;
  while (!e.empty() && e.back() == '/') e.remove_suffix(1);
  if (e.empty()) return fail("empty entry");
  if (e.find_first_of("*?@ \t\n") != std::string_view::npos) {
    return fail("registries are host or host/path prefixes, without wildcards or digests");
  }
  size_t slash = e.find('/');
  std::string_view domain = e.substr(0, slash);
  std::string_view path =
      slash == std::string_view::npos ? std::string_view() : e.substr(slash + 1);
  RegistryPrefix prefix;
  if (!looks_like_domain(domain)) {
    if (path.empty()) {
      return fail("not a registry host; write docker.io/" + std::string(domain) +
                  " for a Docker Hub namespace");
    }
    path = e;  // a Docker Hub namespace, as in references: mycompany/team
    domain = kDockerHub;
  }
  if (!valid_domain(domain)) return fail("invalid registry host");
  if (!path.empty()) {
    for (std::string_view component : split(path, '/')) {
      if (!valid_path_component(lowercase(component))) return fail("invalid path prefix");
    }
  }
  prefix.domain_ = canonical_domain(domain);
  prefix.path_ = lowercase(path);
  return prefix;
}

bool RegistryPrefix::allows(const ImageRef& ref) const {
  if (ref.domain != domain_) return false;
  if (path_.empty()) return true;
  if (ref.path.size() == path_.size()) return ref.path == path_;
  return ref.path.size() > path_.size() && ref.path.compare(0, path_.size(), path_) == 0 &&
         ref.path[path_.size()] == '/';
}

}  // namespace orderguard::policy
