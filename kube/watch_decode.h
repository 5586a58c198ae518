// Decoding of a Kubernetes watch stream, kept free of I/O so it is unit-testable.
//
// The API server answers a watch with newline-delimited JSON, one event per
// line: {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}. The
// bytes arrive in arbitrary chunks (TLS records, HTTP chunks), so a line can be
// split anywhere, including inside a UTF-8 sequence or between '\r' and '\n'.
//
// Contract:
//  - LineSplitter::feed() accepts any chunk; next_line() yields each complete
//    line once, without its "\n" or "\r\n", and skips blank lines (proxies may
//    send them as keep-alives).
//  - A line longer than max_line_bytes is not buffered without bound: the
//    splitter stops yielding lines and overflowed() turns true; the caller ends
//    the watch with an error.
//  - decode_watch_event() never throws; a malformed line is a kInvalid Error.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "kube/client.h"

namespace orderguard::kube {

// Decodes one line of a watch stream. An ERROR event carries the metav1.Status
// in `object`; turning it into an Error is the caller's choice (see
// error_from_status).
Result<WatchEvent> decode_watch_event(std::string_view line);

// "ADDED", "MODIFIED", ... for logs.
std::string_view to_string(WatchEvent::Type type);

class LineSplitter {
 public:
  // Kubernetes objects are bounded by etcd's request limit (1.5 MiB by default);
  // 16 MiB leaves room for JSON overhead and raised limits.
  static constexpr size_t kDefaultMaxLineBytes = 16 * 1024 * 1024;

  explicit LineSplitter(size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  void feed(std::string_view chunk);
  // The next complete non-blank line, or nullopt when more input is needed.
  std::optional<std::string> next_line();
  // At end of stream: the unterminated last line, if it is not blank.
  std::optional<std::string> take_rest();

  bool overflowed() const { return overflowed_; }
  // Bytes held that are not yet returned as a line.
  size_t buffered() const { return buffer_.size() - start_; }

 private:
  void compact();

  const size_t max_line_bytes_;
  std::string buffer_;
  size_t start_ = 0;    // first byte of the current (incomplete) line
  size_t scanned_ = 0;  // bytes before this offset hold no '\n' of the current line
  bool overflowed_ = false;
};

}  // namespace orderguard::kube
