// Structured logs: one JSON object per line on stderr, a constant message plus
// key/value fields, e.g. {"ts":"...","level":"info","msg":"evicted pod","pod":"shop/x"}.
// Levels are info, debug and error only. Thread-safe; lines never interleave.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace orderguard::log {

enum class Level { kDebug = 0, kInfo = 1, kError = 2 };

void set_level(Level level);
// Parses "debug", "info" or "error"; false for anything else.
bool parse_level(std::string_view text, Level* out);
bool enabled(Level level);

void write(Level level, std::string_view msg, const nlohmann::json& fields);

inline void debug(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  if (enabled(Level::kDebug)) write(Level::kDebug, msg, fields);
}
inline void info(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  if (enabled(Level::kInfo)) write(Level::kInfo, msg, fields);
}
inline void error(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kError, msg, fields);
}

}  // namespace orderguard::log
