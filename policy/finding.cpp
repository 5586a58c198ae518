#include "policy/finding.h"

#include "base/text.h"

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

}  // namespace orderguard::policy
