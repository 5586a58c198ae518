#include "agent/report.h"

#include <cstdio>
#include <iomanip>
#include <sstream>

#include "base/text.h"

namespace orderguard::agent {
namespace {

// Every string below that came from the host (comm, exe, argv, file names and contents in
// finding paths, messages and evidence) is any bytes its author chose. The JSON form keeps the
// text, made valid UTF-8 so any dump of it works (invalid bytes become U+FFFD; JSON escapes
// control characters itself); the table escapes it (escape_untrusted), so a process
// cannot clear the screen or print lines of its own.
std::string valid(std::string_view text) { return to_valid_utf8(text); }

nlohmann::json finding_json(const policy::Finding& f) {
  return {{"rule", valid(f.rule_id)},    {"severity", std::string(policy::to_string(f.severity))},
          {"weight", f.weight},          {"field", valid(f.field_path)},
          {"message", valid(f.message)}, {"evidence", valid(f.evidence)}};
}

nlohmann::json usage_json(const CpuUsage& u) {
  nlohmann::json j = {{"pid", u.pid}, {"comm", valid(u.comm)}, {"percent", u.percent}};
  if (u.tid != 0) j["tid"] = u.tid;
  return j;
}

// A host string as one table field.
std::string shown(std::string_view text) { return escape_untrusted(text); }

// A host string in a column `width` bytes wide: escaped, cut on a character boundary, padded.
std::string cell(std::string_view text, size_t width) {
  std::string out = escape_untrusted(text);
  if (out.size() > width) out = truncate_utf8(out, width);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

constexpr std::string_view kRedacted = "<redacted>";

bool secret_flag_name(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (std::string_view word : {"password", "passwd", "secret", "token"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  for (std::string_view suffix : {"pass", "pwd", "key"}) {
    if (lower.ends_with(suffix)) return true;
  }
  return false;
}

// The flag name of `arg` ("--db-password=x" -> "db-password"), or empty when it is no
// named flag (a value, "-", "--", a single-letter flag).
std::string_view flag_name(std::string_view arg) {
  if (!arg.starts_with('-')) return {};
  arg.remove_prefix(arg.starts_with("--") ? 2 : 1);
  arg = arg.substr(0, arg.find('='));
  return arg.size() >= 2 ? arg : std::string_view();
}

std::string join_cmdline(const std::vector<std::string>& argv, size_t max) {
  std::string out;
  for (const std::string& a : redact_secrets(argv)) {
    if (!out.empty()) out += ' ';
    out += shown(a);
  }
  return truncate_utf8(out, max);
}

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

// One process: its line, command line and findings.
void process_lines(std::ostringstream& out, const ProcessReport& p) {
  std::string where =
      p.container.container_id.empty()
          ? std::string("host")
          : shown(p.container.runtime + "://" + p.container.container_id.substr(0, 12));
  if (!p.container.pod_uid.empty()) where += " pod " + shown(p.container.pod_uid);
  out << "  " << std::left << std::setw(8) << p.pid << " " << cell(p.comm, 16) << " score "
      << std::setw(4) << p.score << " " << std::setw(6) << (p.miner ? "MINER" : "") << " cpu "
      << pct(p.cpu_percent) << "%  " << where << "\n";
  out << "           " << join_cmdline(p.cmdline, 100) << "\n";
  for (const policy::Finding& f : p.findings) {
    out << "           - " << shown(f.rule_id) << " (" << f.weight << ") " << shown(f.field_path)
        << ": " << shown(f.message) << "\n";
  }
}

nlohmann::json rule_json(const ExclusionRule& e) {
  return {{"kind", valid(e.kind)}, {"value", valid(e.value)}, {"source", valid(e.source)}};
}

nlohmann::json processes_json(const std::vector<ProcessReport>& list) {
  nlohmann::json procs = nlohmann::json::array();
  for (const ProcessReport& p : list) {
    nlohmann::json findings = nlohmann::json::array();
    for (const policy::Finding& f : p.findings) findings.push_back(finding_json(f));
    nlohmann::json cmdline = nlohmann::json::array();
    for (const std::string& arg : redact_secrets(p.cmdline)) cmdline.push_back(valid(arg));
    procs.push_back({{"pid", p.pid},
                     {"ppid", p.ppid},
                     {"comm", valid(p.comm)},
                     {"exe", valid(p.exe)},
                     {"cmdline", std::move(cmdline)},
                     {"cpuPercent", p.cpu_percent},
                     {"containerId", valid(p.container.container_id)},
                     {"podUid", valid(p.container.pod_uid)},
                     {"runtime", valid(p.container.runtime)},
                     {"score", p.score},
                     {"miner", p.miner},
                     {"findings", findings}});
    if (p.excluded_by) procs.back()["excludedBy"] = rule_json(*p.excluded_by);
  }
  return procs;
}

}  // namespace

std::vector<std::string> redact_secrets(const std::vector<std::string>& argv) {
  std::vector<std::string> out = argv;
  for (size_t i = 1; i < out.size(); ++i) {
    const std::string_view name = flag_name(argv[i]);
    if (name.empty() || !secret_flag_name(name)) continue;
    const size_t eq = argv[i].find('=');
    if (eq != std::string::npos) {
      out[i] = argv[i].substr(0, eq + 1) + std::string(kRedacted);
    } else if (i + 1 < out.size()) {
      out[++i] = std::string(kRedacted);
    }
  }
  return out;
}

nlohmann::json to_json(const ScanReport& r) {
  nlohmann::json exclusions = nlohmann::json::array();
  for (const ExclusionRule& e : r.exclusions) exclusions.push_back(rule_json(e));
  nlohmann::json notes = nlohmann::json::array();
  for (const std::string& n : r.exclusion_notes) notes.push_back(valid(n));
  nlohmann::json host = nlohmann::json::array();
  for (const policy::Finding& f : r.host_findings) host.push_back(finding_json(f));
  nlohmann::json baseline = nlohmann::json::array();
  for (const policy::Finding& f : r.baseline_findings) baseline.push_back(finding_json(f));
  nlohmann::json top = nlohmann::json::array();
  for (const CpuUsage& u : r.top_cpu) top.push_back(usage_json(u));
  nlohmann::json threads = nlohmann::json::array();
  for (const CpuUsage& u : r.top_threads) threads.push_back(usage_json(u));
  nlohmann::json errors = nlohmann::json::array();
  for (const std::string& e : r.errors) errors.push_back(valid(e));
  return {
      {"time", std::chrono::duration_cast<std::chrono::seconds>(r.time.time_since_epoch()).count()},
      {"cpuIntervalSeconds", r.cpu_interval_seconds},
      {"processesScanned", r.processes_scanned},
      {"networkNamespaces", r.network_namespaces},
      {"threshold", r.threshold},
      {"minerSeverity", r.has_miner_severity()},
      {"hiddenSweep", {{"from", r.hidden_sweep_from}, {"to", r.hidden_sweep_to}}},
      {"exclusions", exclusions},
      {"exclusionNotes", notes},
      {"processes", processes_json(r.processes)},
      {"excluded", processes_json(r.excluded)},
      {"hostFindings", host},
      {"baselineFindings", baseline},
      {"topCpu", top},
      {"topThreads", threads},
      {"errors", errors},
      {"errorCount", r.error_count}};
}

std::string format_table(const ScanReport& r, bool verbose) {
  std::ostringstream out;
  out << "Scanned " << r.processes_scanned << " processes, " << r.network_namespaces
      << " network namespaces, CPU over " << pct(r.cpu_interval_seconds) << " s\n\n";
  out << "EXCLUSIONS (never reported as miners, never acted on)\n";
  if (r.exclusions.empty()) out << "  none\n";
  for (const ExclusionRule& e : r.exclusions) {
    // Digests in full are in the JSON form; 16 hex digits tell binaries apart here.
    std::string value = e.kind == "orderguard-binary" && e.value.size() > 23
                            ? e.value.substr(0, 23) + "..."
                            : e.value;
    out << "  - " << shown(e.kind) << " " << shown(value) << " (" << shown(e.source) << ")\n";
  }
  for (const std::string& n : r.exclusion_notes) out << "  note: " << shown(n) << "\n";
  out << "\n";
  out << "TOP CPU\n";
  char line[512];
  std::snprintf(line, sizeof(line), "  %-8s %-16s %7s\n", "PID", "COMM", "CPU%");
  out << line;
  for (const CpuUsage& u : r.top_cpu) {
    std::snprintf(line, sizeof(line), "  %-8d %s %7s\n", u.pid, cell(u.comm, 16).c_str(),
                  pct(u.percent).c_str());
    out << line;
  }
  if (!r.top_threads.empty()) {
    out << "\nTOP THREADS\n";
    std::snprintf(line, sizeof(line), "  %-8s %-8s %-16s %7s\n", "PID", "TID", "COMM", "CPU%");
    out << line;
    for (const CpuUsage& u : r.top_threads) {
      std::snprintf(line, sizeof(line), "  %-8d %-8d %s %7s\n", u.pid, u.tid,
                    cell(u.comm, 16).c_str(), pct(u.percent).c_str());
      out << line;
    }
  }
  size_t miners = 0;
  for (const ProcessReport& p : r.processes) miners += p.miner ? 1 : 0;
  const size_t suspicious = r.processes.size() - miners;
  out << "\nMINERS (score >= " << r.threshold << ")\n";
  if (miners == 0) out << "  none\n";
  for (const ProcessReport& p : r.processes) {
    if (p.miner) process_lines(out, p);
  }
  out << "\nSUSPICIOUS (below the miner threshold of " << r.threshold << ")\n";
  if (suspicious == 0) {
    out << "  none\n";
  } else if (!verbose) {
    out << "  " << suspicious << (suspicious == 1 ? " process" : " processes")
        << " with findings below the threshold; -v lists them\n";
  } else {
    for (const ProcessReport& p : r.processes) {
      if (!p.miner) process_lines(out, p);
    }
  }
  if (!r.excluded.empty()) {
    out << "\nEXCLUDED (findings, but an exclusion matched; never acted on)\n";
    for (const ProcessReport& p : r.excluded) {
      process_lines(out, p);
      if (p.excluded_by)
        out << "           excluded by " << shown(p.excluded_by->describe()) << "\n";
    }
  }
  out << "\nHOST FINDINGS\n";
  if (r.host_findings.empty()) out << "  none\n";
  for (const policy::Finding& f : r.host_findings) {
    out << "  - " << shown(f.rule_id) << " [" << policy::to_string(f.severity) << "] "
        << shown(f.field_path) << ": " << shown(f.message) << "\n";
  }
  if (!r.baseline_findings.empty()) {
    out << "\nBASELINE (hardening to do; not miner evidence)\n";
    for (const policy::Finding& f : r.baseline_findings) {
      out << "  - " << shown(f.rule_id) << " " << shown(f.field_path) << ": " << shown(f.message)
          << "\n";
    }
  }
  if (r.error_count > 0) {
    out << "\nERRORS (skipped, the rest of the scan ran)\n";
    for (const std::string& e : r.errors) out << "  - " << shown(e) << "\n";
    if (r.error_count > r.errors.size()) {
      out << "  - and " << r.error_count - r.errors.size() << " more\n";
    }
  }
  out << "\n"
      << (r.has_miner_severity() ? "RESULT: miner findings\n"
          : r.error_count > 0    ? "RESULT: incomplete, parts of the scan failed\n"
                                 : "RESULT: clean\n");
  return out.str();
}

}  // namespace orderguard::agent
