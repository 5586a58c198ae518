#include "base/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

#include "base/text.h"
#include "base/time_format.h"

namespace orderguard::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

const char* name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level)); }

bool parse_level(std::string_view text, Level* out) {
  if (text == "debug")
    *out = Level::kDebug;
  else if (text == "info")
    *out = Level::kInfo;
  else if (text == "error")
    *out = Level::kError;
  else
    return false;
  return true;
}

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void write(Level level, std::string_view msg, const nlohmann::json& fields) {
  nlohmann::ordered_json line;
  line["ts"] = format_rfc3339_millis(std::chrono::system_clock::now());
  line["level"] = name(level);
  line["msg"] = msg;
  if (fields.is_object()) {
    for (const auto& [k, v] : fields.items()) line[k] = v;
  }
  // Fields carry /proc and user input: invalid UTF-8 must not throw out of a log call, and
  // control characters must not reach the terminal of whoever reads the logs.
  std::string text = dump_for_wire(line);
  text.push_back('\n');
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace orderguard::log
