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
#include <vector>

#include "agent/scanner.h"

namespace orderguard::agent {

// The JSON form. Command lines are shown with redact_secrets applied.
nlohmann::json to_json(const ScanReport& report);
std::string format_table(const ScanReport& report, bool verbose = false);

// `argv` with the values of secret-looking flags replaced by "<redacted>", so a report that
// is pasted into a ticket does not carry a password typed on a command line. A flag is
// secret-looking when its name (the part after one or two dashes, before any '=') contains
// "password", "passwd", "secret" or "token", or is or ends in "pass", "pwd" or "key" ("--pass",
// "--api-key", "-apikey", "--access_key"). Both spellings are covered: "--password=x" keeps
// its name ("--password=<redacted>"), and "--password x" has the next argument replaced.
// argv[0] and single-letter flags ("-p x") are left alone: what "-p" means depends on the
// program.
std::vector<std::string> redact_secrets(const std::vector<std::string>& argv);

}  // namespace orderguard::agent
