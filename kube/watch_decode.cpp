#include "kube/watch_decode.h"

#include <algorithm>
#include <utility>

namespace orderguard::kube {
namespace {

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// A bounded excerpt of a bad line for error messages: a 1 MB line must not
// end up in a log record.
std::string excerpt(std::string_view line) {
  constexpr size_t kMax = 120;
  if (line.size() <= kMax) return std::string(line);
  return std::string(line.substr(0, kMax)) + "... (" + std::to_string(line.size()) + " bytes)";
}

Error invalid(std::string problem, std::string_view line) {
  return make_error(ErrorCode::kInvalid,
                    "watch event: " + std::move(problem) + ": " + excerpt(line));
}

}  // namespace

std::string_view to_string(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
    case WatchEvent::Type::kError:
      return "ERROR";
  }
  return "UNKNOWN";
}

Result<WatchEvent> decode_watch_event(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (is_blank(line)) return make_error(ErrorCode::kInvalid, "watch event: empty line");

  json doc = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return invalid("malformed JSON", line);
  if (!doc.is_object()) return invalid("not a JSON object", line);

  const auto type_it = doc.find("type");
  if (type_it == doc.end() || !type_it->is_string()) return invalid("missing type", line);
  const std::string& type = type_it->get_ref<const std::string&>();

  WatchEvent event;
  if (type == "ADDED") {
    event.type = WatchEvent::Type::kAdded;
  } else if (type == "MODIFIED") {
    event.type = WatchEvent::Type::kModified;
  } else if (type == "DELETED") {
    event.type = WatchEvent::Type::kDeleted;
  } else if (type == "BOOKMARK") {
    event.type = WatchEvent::Type::kBookmark;
  } else if (type == "ERROR") {
    event.type = WatchEvent::Type::kError;
  } else {
    return invalid("unknown type \"" + type + "\"", line);
  }

  const auto object_it = doc.find("object");
  if (object_it == doc.end() || !object_it->is_object()) return invalid("missing object", line);
  event.object = std::move(*object_it);
  return event;
}

void LineSplitter::feed(std::string_view chunk) {
  if (overflowed_ || chunk.empty()) return;
  compact();
  buffer_.append(chunk);
}

std::optional<std::string> LineSplitter::next_line() {
  while (!overflowed_) {
    // Only scan bytes not scanned before, so a long line fed in many small
    // chunks costs linear time, not quadratic.
    const size_t newline = buffer_.find('\n', std::max(scanned_, start_));
    if (newline == std::string::npos) {
      scanned_ = buffer_.size();
      if (buffer_.size() - start_ > max_line_bytes_) {
        overflowed_ = true;
        buffer_.clear();
        start_ = scanned_ = 0;
      }
      return std::nullopt;
    }
    size_t end = newline;
    if (end > start_ && buffer_[end - 1] == '\r') --end;
    const size_t begin = start_;
    start_ = scanned_ = newline + 1;
    if (end - begin > max_line_bytes_) {
      overflowed_ = true;
      buffer_.clear();
      start_ = scanned_ = 0;
      return std::nullopt;
    }
    std::string_view line(buffer_.data() + begin, end - begin);
    if (is_blank(line)) continue;
    return std::string(line);
  }
  return std::nullopt;
}

std::optional<std::string> LineSplitter::take_rest() {
  if (overflowed_) return std::nullopt;
  std::string rest = buffer_.substr(start_);
  buffer_.clear();
  start_ = scanned_ = 0;
  while (!rest.empty() && rest.back() == '\r') rest.pop_back();
  if (is_blank(rest)) return std::nullopt;
  return rest;
}

void LineSplitter::compact() {
  // Drop consumed bytes once they dominate the buffer; amortized O(1) per byte.
  if (start_ == 0) return;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = scanned_ = 0;
  } else if (start_ >= 4096 && start_ * 2 >= buffer_.size()) {
    buffer_.erase(0, start_);
    scanned_ -= std::min(scanned_, start_);
    start_ = 0;
  }
}

}  // namespace orderguard::kube
