// Base64 (RFC 4648), the one codec of the code base: kubeconfig *-data fields and Secret data
// (strict), and the miner scanners' hunt for base64-encoded indicators in untrusted text
// (lenient, never an error).
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace orderguard {

// Standard alphabet, with '=' padding.
std::string base64_encode(std::string_view data);

// Strict decoding of the standard alphabet. Whitespace is skipped (YAML folding, hand-edited
// files); anything else outside the alphabet, data after padding, or a length that is not a
// multiple of 4 is a kInvalid error. `padding_optional` accepts input whose trailing '=' were
// left out, as kubeconfig readers do.
Result<std::string> base64_decode(std::string_view text, bool padding_optional = false);

// Lenient decoding for scanners: the standard and the URL-safe alphabet, trailing '=' optional,
// no whitespace. Decodes into `out` (cleared first, so a scan can reuse one buffer) and returns
// false for text that is not base64. With `printable_only` it also returns false, as soon as it
// is certain, when the result would not be at least 90 % printable ASCII (tab, CR, LF count),
// or would be empty.
bool base64_decode_scan(std::string_view text, bool printable_only, std::string* out);

}  // namespace orderguard
