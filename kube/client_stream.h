// Bodies of LIST and WATCH answers, read as they arrive (internal to kube/): a LIST is parsed
// item by item and never held whole as text; a watch is split into event lines.
#pragma once

#include <cpprest/streams.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "kube/client.h"

namespace orderguard::kube {

// Parses a List from `body`. Each element of "items" goes to `on_item` as soon as the parser
// completes it and is dropped: at most one whole item is held at a time. Returns the List
// without items, or a discarded value when the body is not JSON. Blocks the calling thread and
// throws what cpprest throws (transport) or what `on_item` throws.
nlohmann::json parse_list_stream(concurrency::streams::streambuf<uint8_t> body,
                                 const std::function<void(nlohmann::json&&)>& on_item);

// Reads watch events from `body` until the server ends the stream, `cancel` fires, an event
// is malformed or an ERROR event arrives (its Status as the error), and hands each to
// `on_event`. `what` names the watch in errors ("watch pods"), `target` in logs. Throws what
// cpprest throws (inactivity timeout, cancellation on the wire).
Status read_watch_stream(concurrency::streams::streambuf<uint8_t> body, const std::string& what,
                         const std::string& target,
                         const std::function<void(WatchEvent&&)>& on_event,
                         const Canceller& cancel);

}  // namespace orderguard::kube
