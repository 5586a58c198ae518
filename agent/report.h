// Rendering a ScanReport: JSON (the machine form, stable field names) and a readable table.
//
// Table sections, in order: the exclusions in force (and how the trusted binaries loaded),
// TOP CPU, TOP THREADS, MINERS (processes at or above the threshold: what exit code 1 and the
// responder act on), SUSPICIOUS (findings below the threshold; listed with `verbose`, else
// counted), EXCLUDED (findings, but an exclusion matched; each with the exclusion), HOST
// FINDINGS, BASELINE, ERRORS, RESULT. JSON has every process of both lists with `miner`
// and, for excluded ones, `excludedBy`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "agent/scanner.h"

namespace orderguard::agent {

nlohmann::json to_json(const ScanReport& report);
std::string format_table(const ScanReport& report, bool verbose = false);

}  // namespace orderguard::agent
