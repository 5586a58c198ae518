#include "kube/client_stream.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "base/log.h"
#include "kube/watch_decode.h"

namespace orderguard::kube {
namespace {

using nlohmann::json;

// A response body as an input iterator range for the JSON parser, read in
// chunks as it arrives. Iterators share the reader's state (the parser copies
// them); reading blocks the calling thread and throws what `body` throws.
class BodyReader {
 public:
  explicit BodyReader(const BodyRead& body) : body_(body) {
    chunk_.reserve(kChunk);
    fill();
  }

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = const char&;

    Iterator() = default;  // the end
    explicit Iterator(BodyReader* reader) : reader_(reader) {}
    reference operator*() const { return reader_->current(); }
    Iterator& operator++() {
      reader_->advance();
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const Iterator& other) const { return at_end() == other.at_end(); }
    bool operator!=(const Iterator& other) const { return !(*this == other); }

   private:
    bool at_end() const { return reader_ == nullptr || reader_->done(); }
    BodyReader* reader_ = nullptr;
  };

  Iterator begin() { return Iterator(this); }
  static Iterator end() { return Iterator(); }

 private:
  static constexpr size_t kChunk = 64 * 1024;
  const char& current() const { return chunk_[pos_]; }
  bool done() const { return pos_ >= chunk_.size(); }
  void advance() {
    if (++pos_ >= chunk_.size()) fill();
  }
  void fill() {
    pos_ = 0;
    chunk_.clear();
    body_(chunk_, kChunk);
  }

  const BodyRead& body_;
  std::string chunk_;
  size_t pos_ = 0;
};

}  // namespace

json parse_list_stream(const BodyRead& body, const std::function<void(json&&)>& on_item) {
  BodyReader reader(body);
  bool in_items = false;
  return json::parse(
      reader.begin(), reader.end(),
      [&](int depth, json::parse_event_t event, json& parsed) {
        // Depth 1: the List's own keys; depth 2: the elements of its arrays.
        if (depth == 1 && event == json::parse_event_t::key) {
          in_items = parsed.is_string() && parsed.get_ref<const std::string&>() == "items";
        } else if (in_items && depth == 2 && event == json::parse_event_t::object_end) {
          on_item(std::move(parsed));
          return false;  // not kept in the page
        }
        return true;
      },
      /*allow_exceptions=*/false);
}

Status read_watch_stream(const BodyRead& body, const std::string& what, const std::string& target,
                         const std::function<void(WatchEvent&&)>& on_event,
                         const Canceller& cancel) {
  // The body is read as it arrives: each read returns as soon as some bytes
  // are there (a TLS record, an HTTP chunk), so an event is delivered when its
  // line is complete.
  LineSplitter splitter;
  std::string chunk;
  size_t events = 0;

  const auto deliver = [&](const std::string& line) -> std::optional<Error> {
    auto event = decode_watch_event(line);
    if (!event.ok()) {
      log::error("malformed watch event, ending the watch",
                 {{"path", target}, {"error", event.error().message}});
      return event.error();
    }
    if (event->type == WatchEvent::Type::kError) {
      return error_from_status(0, event->object);
    }
    ++events;
    try {
      on_event(std::move(*event));
    } catch (const std::exception& e) {
      log::error("watch event handler threw, ending the watch",
                 {{"path", target}, {"error", e.what()}});
      return make_error(ErrorCode::kInternal, what + ": event handler threw: " + e.what());
    }
    return std::nullopt;
  };

  for (;;) {
    while (auto line = splitter.next_line()) {
      if (auto err = deliver(*line)) return *err;
    }
    if (splitter.overflowed()) {
      return make_error(ErrorCode::kInvalid,
                        what + ": an event line exceeds " +
                            std::to_string(LineSplitter::kDefaultMaxLineBytes) + " bytes");
    }
    if (cancel.cancelled()) {
      return make_error(ErrorCode::kCancelled, what + ": cancelled");
    }
    chunk.clear();
    if (body(chunk, 64 * 1024) == 0) break;
    splitter.feed(chunk);
  }
  if (auto rest = splitter.take_rest()) {
    if (auto err = deliver(*rest)) return *err;
  }
  log::debug("watch ended by the server", {{"path", target}, {"events", events}});
  return {};
}

}  // namespace orderguard::kube
