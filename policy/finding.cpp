#include "policy/finding.h"

#include "kube/text.h"

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
  return kube::truncate_utf8(text, max_bytes);
}

}  // namespace orderguard::policy
