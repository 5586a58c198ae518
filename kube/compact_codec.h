// How a compact informer cache stores an object: its CBOR encoding, deflated
// with a preset dictionary (internal to kube/informer.cpp, tested on its own).
//
// Why a dictionary: the objects of one cache are siblings. Two Deployments of
// one operator differ in names, UIDs, resourceVersions and a few values, and
// share every key and most values, which a 2 KB object cannot exploit on its
// own (deflate alone barely halves it) but can against a sibling: with the
// first cached object as the dictionary a 2 KB Deployment deflates to about
// 170 bytes. Fast level (1): the cache is written on every watch event.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace orderguard::kube {

// The bytes deflate may refer back to; immutable once made, and needed to
// inflate whatever was compressed against it.
struct CompactDictionary {
  std::string bytes;  // at most 32 KiB are used (deflate's window)
};

// Deflates `data` against `dict` (may be null: no dictionary) into `out`.
// False only when zlib could not get memory (the caller then keeps the object
// as it is). Thread-safe: one deflate state is shared behind a lock (it is
// 256 KiB; one per cache would cost more than compression saves on small ones).
bool compact_encode(std::string_view data, const CompactDictionary* dict,
                    std::vector<uint8_t>* out);

// Inflates what compact_encode made with the same `dict`. Fails (false) only
// on bytes it did not make; `out` is then unspecified. Thread-safe.
bool compact_decode(const std::vector<uint8_t>& compressed, const CompactDictionary* dict,
                    std::string* out);

}  // namespace orderguard::kube
