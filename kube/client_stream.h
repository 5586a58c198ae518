// Bodies of LIST and WATCH answers, read as they arrive (internal to kube/): a LIST is parsed
// item by item and never held whole as text; a watch is split into event lines.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "kube/client.h"

namespace orderguard::kube {

// Reads the next bytes of a body into `out` (appending at most `max`), waiting for at least
// one; 0 at the end of the body. Throws on a transport failure.
using BodyRead = std::function<size_t(std::string& out, size_t max)>;

// Parses a List from `body`. Each element of "items" goes to `on_item` as soon as the parser
// completes it and is dropped: at most one whole item is held at a time. Returns the List
// without items, or a discarded value when the body is not JSON. Blocks the calling thread and
// throws what `body` throws (transport) or what `on_item` throws.
nlohmann::json parse_list_stream(const BodyRead& body,
                                 const std::function<void(nlohmann::json&&)>& on_item);

// Reads watch events from `body` until the server ends the stream, `cancel` fires, an event
// is malformed or an ERROR event arrives (its Status as the error), and hands each to
// `on_event`. `what` names the watch in errors ("watch pods"), `target` in logs. Throws what
// `body` throws (inactivity timeout, a connection closed by cancellation).
Status read_watch_stream(const BodyRead& body, const std::string& what, const std::string& target,
                         const std::function<void(WatchEvent&&)>& on_event,
                         const Canceller& cancel);

}  // namespace orderguard::kube
