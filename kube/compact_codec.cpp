#include "kube/compact_codec.h"

#include <zlib.h>

#include <mutex>

namespace orderguard::kube {
namespace {

// deflate's window is 32 KiB: a longer dictionary would only have its tail used.
constexpr size_t kMaxDictionary = 32 * 1024;

const Bytef* dictionary_bytes(const CompactDictionary& dict, uInt* len) {
  const std::string& b = dict.bytes;
  const size_t n = b.size() < kMaxDictionary ? b.size() : kMaxDictionary;
  *len = static_cast<uInt>(n);
  return reinterpret_cast<const Bytef*>(b.data() + (b.size() - n));
}

// One zlib stream of each direction, reset per use; raw deflate (no header or
// checksum: the bytes never leave the process).
class Deflater {
 public:
  Deflater() {
    ok_ = deflateInit2(&z_, Z_BEST_SPEED, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Deflater() {
    if (ok_) deflateEnd(&z_);
  }
  bool encode(std::string_view data, const CompactDictionary* dict, std::vector<uint8_t>* out) {
    if (!ok_ || deflateReset(&z_) != Z_OK) return false;
    if (dict != nullptr && !dict->bytes.empty()) {
      uInt len = 0;
      const Bytef* bytes = dictionary_bytes(*dict, &len);
      if (deflateSetDictionary(&z_, bytes, len) != Z_OK) return false;
    }
    out->resize(deflateBound(&z_, static_cast<uLong>(data.size())));
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z_.avail_in = static_cast<uInt>(data.size());
    z_.next_out = out->data();
    z_.avail_out = static_cast<uInt>(out->size());
    if (deflate(&z_, Z_FINISH) != Z_STREAM_END) return false;
    out->resize(out->size() - z_.avail_out);
    return true;
  }

 private:
  z_stream z_{};
  bool ok_ = false;
};

class Inflater {
 public:
  Inflater() { ok_ = inflateInit2(&z_, -15) == Z_OK; }
  ~Inflater() {
    if (ok_) inflateEnd(&z_);
  }
  bool decode(const std::vector<uint8_t>& in, const CompactDictionary* dict, std::string* out) {
    if (!ok_ || inflateReset(&z_) != Z_OK) return false;
    // A raw stream takes its dictionary before the first byte.
    if (dict != nullptr && !dict->bytes.empty()) {
      uInt len = 0;
      const Bytef* bytes = dictionary_bytes(*dict, &len);
      if (inflateSetDictionary(&z_, bytes, len) != Z_OK) return false;
    }
    out->clear();
    z_.next_in = const_cast<Bytef*>(in.data());
    z_.avail_in = static_cast<uInt>(in.size());
    char chunk[16384];
    while (true) {
      z_.next_out = reinterpret_cast<Bytef*>(chunk);
      z_.avail_out = sizeof(chunk);
      const int rc = inflate(&z_, Z_NO_FLUSH);
      out->append(chunk, sizeof(chunk) - z_.avail_out);
      if (rc == Z_STREAM_END) return true;
      if (rc != Z_OK) return false;  // Z_BUF_ERROR here means truncated input
    }
  }

 private:
  z_stream z_{};
  bool ok_ = false;
};

}  // namespace

bool compact_encode(std::string_view data, const CompactDictionary* dict,
                   std::vector<uint8_t>* out) {
  static std::mutex mu;
  static Deflater deflater;
  std::lock_guard<std::mutex> lock(mu);
  if (!deflater.encode(data, dict, out)) return false;
  out->shrink_to_fit();
  return true;
}

bool compact_decode(const std::vector<uint8_t>& compressed, const CompactDictionary* dict,
                    std::string* out) {
  static std::mutex mu;
  static Inflater inflater;
  std::lock_guard<std::mutex> lock(mu);
  return inflater.decode(compressed, dict, out);
}

}  // namespace orderguard::kube
