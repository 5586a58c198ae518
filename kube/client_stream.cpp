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
// them); reading blocks the calling thread and throws what cpprest throws.
class BodyReader {
 public:
  explicit BodyReader(concurrency::streams::streambuf<uint8_t> body)
      : body_(std::move(body)), chunk_(64 * 1024) {
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
  const char& current() const { return chunk_[pos_]; }
  bool done() const { return pos_ >= len_; }
  void advance() {
    if (++pos_ >= len_) fill();
  }
  void fill() {
    pos_ = 0;
    len_ = body_.getn(reinterpret_cast<uint8_t*>(chunk_.data()), chunk_.size()).get();
  }

  concurrency::streams::streambuf<uint8_t> body_;
  std::vector<char> chunk_;
  size_t pos_ = 0;
  size_t len_ = 0;
};

}  // namespace

json parse_list_stream(concurrency::streams::streambuf<uint8_t> body,
                       const std::function<void(json&&)>& on_item) {
  BodyReader reader(std::move(body));
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

Status read_watch_stream(concurrency::streams::streambuf<uint8_t> body, const std::string& what,
                         const std::string& target,
                         const std::function<void(WatchEvent&&)>& on_event,
                         const Canceller& cancel) {
  // The body is read as it arrives: in_avail() bytes are taken in one copy,
  // and an empty buffer is waited on with bumpc(), which is how
  // istream::read_line waits too (it returns at the next chunk, throws on
  // inactivity timeout or cancellation, and yields eof at the end).
  LineSplitter splitter;
  std::vector<uint8_t> chunk(64 * 1024);
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
    const size_t available = body.in_avail();
    if (available == 0) {
      const auto c = body.bumpc().get();
      if (c == decltype(body)::traits::eof()) break;
      const char ch = static_cast<char>(c);
      splitter.feed(std::string_view(&ch, 1));
      continue;
    }
    const size_t n = body.getn(chunk.data(), std::min(available, chunk.size())).get();
    if (n == 0) break;
    splitter.feed(std::string_view(reinterpret_cast<const char*>(chunk.data()), n));
  }
  if (auto rest = splitter.take_rest()) {
    if (auto err = deliver(*rest)) return *err;
  }
  log::debug("watch ended by the server", {{"path", target}, {"events", events}});
  return {};
}

}  // namespace orderguard::kube
