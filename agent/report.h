// Rendering a ScanReport: JSON (the machine form, stable field names) and a readable table.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "agent/scanner.h"

namespace orderguard::agent {

nlohmann::json to_json(const ScanReport& report);
std::string format_table(const ScanReport& report);

}  // namespace orderguard::agent
