#include "policy/finding.h"

namespace orderguard::policy {

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::kWeak:
      return "weak";
    case Severity::kStrong:
      return "strong";
  }
  return "unknown";
}

std::string format_cause(const Finding& finding) {
  std::string out = "rule ";
  out += finding.rule_id;
  out += ": ";
  if (!finding.container.empty()) {
    out += "container ";
    out += finding.container;
    out += ' ';
  }
  out += finding.field_path;
  out += ": ";
  out += finding.message;
  return out;
}

std::string truncate_utf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  constexpr std::string_view kEllipsis = "...";
  if (max_bytes <= kEllipsis.size()) return std::string(kEllipsis.substr(0, max_bytes));
  size_t cut = max_bytes - kEllipsis.size();
  // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  std::string out(text.substr(0, cut));
  out += kEllipsis;
  return out;
}

}  // namespace orderguard::policy
