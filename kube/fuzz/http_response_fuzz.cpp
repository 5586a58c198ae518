// Fuzz target over the REST client's answer parsing (kube/http_transport.h ResponseReader,
// then kube/client_stream.h): the bytes an API server, or anything pretending to be one,
// sends back. The first byte picks what reads the body (held whole, a LIST streamed item by
// item, or a watch split into events) and how many bytes each socket read returns; the rest
// is the answer as it arrives on the wire.
//
// Oracle: nothing but a TransportError escapes (and nothing crashes or hangs), a body held
// whole never exceeds its limit, and an accepted status is a three-digit code. A violation
// aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kube/client_stream.h"
#include "kube/http_transport.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace kube = orderguard::kube;
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 3;
  const size_t chunk = 1 + (data[0] >> 2) % 64;
  const char* wire = reinterpret_cast<const char*>(data + 1);
  const size_t wire_size = size - 1;
  size_t offset = 0;
  boost::beast::flat_buffer buffer;
  const auto read_some = [&](boost::asio::mutable_buffer buf, boost::system::error_code& ec) {
    // Bytes the parser could not use yet stay below the header limit: an endless line
    // (a chunk size, a trailer) is refused, not buffered without end.
    if (buffer.size() >= kube::ResponseReader::kHeaderLimit) {
      std::fprintf(stderr, "fuzz oracle violated: %zu unparsed bytes buffered\n", buffer.size());
      std::abort();
    }
    if (offset >= wire_size) {
      ec = boost::asio::error::eof;
      return size_t{0};
    }
    const size_t n = std::min({chunk, buf.size(), wire_size - offset});
    std::memcpy(buf.data(), wire + offset, n);
    offset += n;
    return n;
  };
  constexpr uint64_t kLimit = 4096;
  try {
    kube::ResponseReader reader(read_some, buffer,
                                mode == 0 ? std::optional<uint64_t>(kLimit) : std::nullopt);
    reader.read_header();
    if (reader.status() < 100 || reader.status() > 999) {
      std::fprintf(stderr, "fuzz oracle violated: status %d accepted\n", reader.status());
      std::abort();
    }
    const kube::BodyRead body = [&](std::string& out, size_t max) {
      return reader.read_body(out, max);
    };
    if (mode == 0) {
      if (reader.read_all().size() > kLimit) {
        std::fprintf(stderr, "fuzz oracle violated: body over its limit\n");
        std::abort();
      }
    } else if (mode == 1) {
      (void)kube::parse_list_stream(body, [](nlohmann::json&&) {});
    } else {
      const kube::Canceller cancel;
      (void)kube::read_watch_stream(
          body, "watch fuzz", "/fuzz", [](kube::WatchEvent&&) {}, cancel);
    }
  } catch (const kube::TransportError&) {
    // A clear error, as intended for hostile bytes.
  }
  return 0;
}
