// Line-by-line reading of a text held in memory (/proc files, config files, checksum lists),
// without copying: each line is a view into the text, without its '\n'. A last line without
// a newline is a line; a text that ends in '\n' has no empty line after it. '\r' is left in
// place: the callers that read files written on other systems strip it themselves.
#pragma once

#include <string_view>

namespace orderguard {

class TextLines {
 public:
  explicit TextLines(std::string_view text) : rest_(text) {}

  // The next line into `*line`; false when the text is used up.
  bool next(std::string_view* line) {
    if (rest_.empty()) return false;
    const size_t end = rest_.find('\n');
    if (end == std::string_view::npos) {
      *line = rest_;
      rest_ = {};
    } else {
      *line = rest_.substr(0, end);
      rest_.remove_prefix(end + 1);
    }
    return true;
  }

 private:
  std::string_view rest_;
};

}  // namespace orderguard
