// FNV-1a, 64-bit: a stable, dependency-free hash of bytes. Stable across processes, builds
// and machines, so it can be written down: the ShardSet routing table (a key's slot is
// fnv1a64(key) mod tables, and applications compute the same), and content hashes the
// operator compares between passes. Not for anything an attacker can aim at.
#pragma once

#include <cstdint>
#include <string_view>

namespace orderguard {

constexpr uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 14695981039346656037ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace orderguard
