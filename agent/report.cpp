#include "agent/report.h"

#include <cstdio>
#include <sstream>

namespace orderguard::agent {
namespace {

nlohmann::json finding_json(const policy::Finding& f) {
  return {{"rule", f.rule_id},    {"severity", std::string(policy::to_string(f.severity))},
          {"weight", f.weight},   {"field", f.field_path},
          {"message", f.message}, {"evidence", f.evidence}};
}

nlohmann::json usage_json(const CpuUsage& u) {
  nlohmann::json j = {{"pid", u.pid}, {"comm", u.comm}, {"percent", u.percent}};
  if (u.tid != 0) j["tid"] = u.tid;
  return j;
}

std::string join_cmdline(const std::vector<std::string>& argv, size_t max) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return policy::truncate_utf8(out, max);
}

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

}  // namespace

nlohmann::json to_json(const ScanReport& r) {
  nlohmann::json procs = nlohmann::json::array();
  for (const ProcessReport& p : r.processes) {
    nlohmann::json findings = nlohmann::json::array();
    for (const policy::Finding& f : p.findings) findings.push_back(finding_json(f));
    procs.push_back({{"pid", p.pid},
                     {"ppid", p.ppid},
                     {"comm", p.comm},
                     {"exe", p.exe},
                     {"cmdline", p.cmdline},
                     {"cpuPercent", p.cpu_percent},
                     {"containerId", p.container.container_id},
                     {"podUid", p.container.pod_uid},
                     {"runtime", p.container.runtime},
                     {"score", p.score},
                     {"miner", p.miner},
                     {"findings", findings}});
  }
  nlohmann::json host = nlohmann::json::array();
  for (const policy::Finding& f : r.host_findings) host.push_back(finding_json(f));
  nlohmann::json baseline = nlohmann::json::array();
  for (const policy::Finding& f : r.baseline_findings) baseline.push_back(finding_json(f));
  nlohmann::json top = nlohmann::json::array();
  for (const CpuUsage& u : r.top_cpu) top.push_back(usage_json(u));
  nlohmann::json threads = nlohmann::json::array();
  for (const CpuUsage& u : r.top_threads) threads.push_back(usage_json(u));
  return {
      {"time", std::chrono::duration_cast<std::chrono::seconds>(r.time.time_since_epoch()).count()},
      {"cpuIntervalSeconds", r.cpu_interval_seconds},
      {"processesScanned", r.processes_scanned},
      {"networkNamespaces", r.network_namespaces},
      {"threshold", r.threshold},
      {"minerSeverity", r.has_miner_severity()},
      {"hiddenSweep", {{"from", r.hidden_sweep_from}, {"to", r.hidden_sweep_to}}},
      {"processes", procs},
      {"hostFindings", host},
      {"baselineFindings", baseline},
      {"topCpu", top},
      {"topThreads", threads}};
}

std::string format_table(const ScanReport& r) {
  std::ostringstream out;
  out << "Scanned " << r.processes_scanned << " processes, " << r.network_namespaces
      << " network namespaces, CPU over " << pct(r.cpu_interval_seconds) << " s\n\n";
  out << "TOP CPU\n";
  char line[512];
  std::snprintf(line, sizeof(line), "  %-8s %-16s %7s\n", "PID", "COMM", "CPU%");
  out << line;
  for (const CpuUsage& u : r.top_cpu) {
    std::snprintf(line, sizeof(line), "  %-8d %-16.16s %7s\n", u.pid, u.comm.c_str(),
                  pct(u.percent).c_str());
    out << line;
  }
  if (!r.top_threads.empty()) {
    out << "\nTOP THREADS\n";
    std::snprintf(line, sizeof(line), "  %-8s %-8s %-16s %7s\n", "PID", "TID", "COMM", "CPU%");
    out << line;
    for (const CpuUsage& u : r.top_threads) {
      std::snprintf(line, sizeof(line), "  %-8d %-8d %-16.16s %7s\n", u.pid, u.tid, u.comm.c_str(),
                    pct(u.percent).c_str());
      out << line;
    }
  }
  out << "\nPROCESSES WITH FINDINGS (miner at score >= " << r.threshold << ")\n";
  if (r.processes.empty()) out << "  none\n";
  for (const ProcessReport& p : r.processes) {
    std::string where = p.container.container_id.empty()
                            ? std::string("host")
                            : p.container.runtime + "://" + p.container.container_id.substr(0, 12);
    if (!p.container.pod_uid.empty()) where += " pod " + p.container.pod_uid;
    std::snprintf(line, sizeof(line), "  %-8d %-16.16s score %-4d %-6s cpu %s%%  %s\n", p.pid,
                  p.comm.c_str(), p.score, p.miner ? "MINER" : "", pct(p.cpu_percent).c_str(),
                  where.c_str());
    out << line << "           " << join_cmdline(p.cmdline, 100) << "\n";
    for (const policy::Finding& f : p.findings) {
      out << "           - " << f.rule_id << " (" << f.weight << ") " << f.field_path << ": "
          << f.message << "\n";
    }
  }
  out << "\nHOST FINDINGS\n";
  if (r.host_findings.empty()) out << "  none\n";
  for (const policy::Finding& f : r.host_findings) {
    out << "  - " << f.rule_id << " [" << policy::to_string(f.severity) << "] " << f.field_path
        << ": " << f.message << "\n";
  }
  if (!r.baseline_findings.empty()) {
    out << "\nBASELINE (hardening to do; not miner evidence)\n";
    for (const policy::Finding& f : r.baseline_findings) {
      out << "  - " << f.rule_id << " " << f.field_path << ": " << f.message << "\n";
    }
  }
  out << "\n" << (r.has_miner_severity() ? "RESULT: miner findings\n" : "RESULT: clean\n");
  return out.str();
}

}  // namespace orderguard::agent
