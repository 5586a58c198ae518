#include "base/field_reader.h"

#include <charconv>
#include <set>

namespace orderguard {

Error invalid_error(const std::vector<std::string>& problems) {
  std::string message;
  for (const auto& p : problems) message.append(message.empty() ? "" : "; ").append(p);
  return make_error(ErrorCode::kInvalid, std::move(message));
}

std::vector<std::string> duplicate_errors(const std::vector<std::string>& names,
                                          const std::string& path) {
  std::set<std::string_view> seen;
  std::vector<std::string> errors;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!seen.insert(names[i]).second) {
      errors.push_back(path + "[" + std::to_string(i) + "]: duplicate value \"" + names[i] + "\"");
    }
  }
  return errors;
}

ProblemPaths::ProblemPaths(const std::vector<std::string>& problems) {
  for (const auto& p : problems) paths_.insert(p.substr(0, p.find(": ")));
}

bool ProblemPaths::covers(std::string_view path) const {
  if (paths_.empty()) return false;
  if (paths_.contains(path)) return true;
  // Every object or item above it: the prefixes that end before a '.' or a '['.
  for (size_t i = 1; i < path.size(); ++i) {
    if ((path[i] == '.' || path[i] == '[') && paths_.contains(path.substr(0, i))) return true;
  }
  return false;
}

namespace detail {

std::optional<int64_t> integer_from_text(std::string_view text) {
  // JsonDoc validated the number's grammar: a fraction or exponent makes it a float.
  if (text.empty() || text.find_first_of(".eE") != std::string_view::npos) return std::nullopt;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  int64_t n = 0;
  auto [end, ec] = std::from_chars(first, last, n);
  if (ec == std::errc() && end == last) return n;
  if (ec != std::errc::result_out_of_range || text.front() == '-') return std::nullopt;
  // Above INT64_MAX: nlohmann stores it unsigned while it fits 64 bits, and get<int64_t>
  // wraps it; beyond that it is a float.
  uint64_t u = 0;
  auto [uend, uec] = std::from_chars(first, last, u);
  if (uec != std::errc() || uend != last) return std::nullopt;
  return static_cast<int64_t>(u);
}

}  // namespace detail
}  // namespace orderguard
