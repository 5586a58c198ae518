// What the agent never reports as a miner and never acts on, beyond pid 1, kernel threads and
// its own pid (responder.h):
//
// - orderguard's own binaries, recognised by the SHA-256 of the file a process runs
//   (/proc/<pid>/exe), never by its name: the agent's own executable (/proc/self/exe) and the
//   digests of a trusted-binaries file in sha256sum format (the agent image carries the
//   digests of the operator, webhook and agent it was built with, kDefaultTrustedBinaries). A
//   process named orderguard-webhook that runs another file is scanned like any other; a copy
//   of an orderguard binary under any name or path is excluded.
// - executable path globs (--exclude-exe, spec.agent.exclusions.executables): host processes
//   only. Inside a container the path is whatever the image chose, so a glob would let any
//   image opt itself out; containers are excluded by their Pod instead.
// - Pods: by namespace name (--exclude-namespace, spec.agent.exclusions.namespaces) or pod
//   label selector (--exclude-pod-label, spec.agent.exclusions.podSelector). Namespace labels
//   are not read: the agent's RBAC has no access to Namespaces, and names are enough (every
//   namespace also carries the label kubernetes.io/metadata.name, which a podSelector cannot
//   see, so exclude by name).
//
// The binary checks run in the scanner, and only for a process that has findings; the Pod
// checks run in `orderguard-agent run`, which knows the node's Pods. An excluded process with
// findings moves from ScanReport::processes to ScanReport::excluded, with the exclusion that
// matched: it counts as no miner, the responder never sees it, and `scan` lists it under its
// own heading.
//
// Digests are cached by (device, inode, size, mtime) of the file, so a binary is hashed once
// however many scans see it; entries no scan looked up are dropped after the scan. A file
// larger than kMaxHashedExeBytes, or one that cannot be opened, is not hashed and so never
// excluded by digest (an exclusion fails closed). Note: the digest covers the executable, not
// what is loaded into the process (LD_PRELOAD, ptrace injection) after it starts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "agent/cgroup.h"
#include "agent/host_view.h"
#include "base/result.h"
#include "policy/exe_glob.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

struct ScanReport;

inline constexpr std::string_view kDefaultTrustedBinaries =
    "/usr/local/share/orderguard/binaries.sha256";
inline constexpr int64_t kMaxHashedExeBytes = int64_t{1} << 30;
inline constexpr size_t kMaxTrustedBinariesBytes = 1 << 20;

// One exclusion in force, as reports show it.
struct ExclusionRule {
  std::string kind;    // orderguard-binary, executable, namespace, pod-selector
  std::string value;   // sha256:<hex>, the glob, the namespace, the selector
  std::string source;  // "this agent", the trusted-binaries file, "--exclude-exe", "MinerPolicy x"

  std::string describe() const;  // "executable /opt/x/* (--exclude-exe)"
};

// The lowercase hex SHA-256 of everything readable from `fd` (read from its current offset).
Result<std::string> sha256_hex(int fd);

// Lines "<64 hex>  <name>" or "<64 hex> *<name>" (sha256sum's text and binary modes); blank
// lines and '#' comments are skipped. Returns digest -> name; a line that is neither is
// reported in `bad_lines` (1-based) and skipped.
std::map<std::string, std::string> parse_sha256sums(std::string_view text,
                                                    std::vector<size_t>* bad_lines);

// The digests whose processes are orderguard's own.
struct TrustedBinaries {
  std::map<std::string, std::string> digests;  // hex -> where it came from
  // What was loaded or not ("/usr/local/share/orderguard/binaries.sha256: 3 digests",
  // "... missing: only this agent's own binary is trusted"), for logs and reports.
  std::vector<std::string> notes;
};

// The agent's own executable (when `self`, hashed through /proc/self/exe) and the digests of
// `file` (empty: none). A missing or unreadable file leaves only the first, said in notes.
TrustedBinaries load_trusted_binaries(const std::string& file, bool self = true);

// Every exclusion in force. Cheap to copy (the digests are shared).
struct ExclusionConfig {
  std::shared_ptr<const TrustedBinaries> trusted;
  struct Executable {
    policy::ExeGlob glob;
    std::string source;
  };
  std::vector<Executable> executables;
  std::map<std::string, std::string> namespaces;  // name -> source
  struct PodSelector {
    policy::LabelSelector selector;
    std::string text;  // as shown in reports
    std::string source;
  };
  std::vector<PodSelector> pod_selectors;

  // Adds spec.agent.exclusions of every policy (a union: MinerPolicies are cluster-scoped, so
  // only cluster administrators write them).
  void add_policies(const policy::PolicySet& policies);
  // The rules in force, for reports.
  std::vector<ExclusionRule> rules() const;
};

// The command line's exclusions (main.cpp).
struct ExclusionFlags {
  std::string trusted_binaries = std::string(kDefaultTrustedBinaries);  // empty: none
  std::vector<std::string> executables;                                 // --exclude-exe
  std::vector<std::string> namespaces;                                  // --exclude-namespace
  std::vector<std::string> pod_labels;                                  // --exclude-pod-label
};

// The config of `flags` (the trusted binaries loaded, this agent's own included); kInvalid
// naming the flag when a glob or label is malformed.
Result<ExclusionConfig> exclusions_from_flags(const ExclusionFlags& flags);

// "--exclude-pod-label key=value" as a selector; kInvalid unless it is one key=value with a
// non-empty key.
Result<policy::LabelSelector> parse_pod_label(std::string_view text);
// A selector as text: "app=x,tier in (a,b),!gone".
std::string selector_text(const policy::LabelSelector& selector);

// SHA-256 digests of executables keyed by (device, inode, size, mtime).
class ExeDigestCache {
 public:
  // The digest of the file /proc/<pid>/exe points at (`exe_link`), hashed only when no cached
  // entry has the same key; nullopt when it cannot be opened or is too large.
  std::optional<std::string> digest(const std::string& exe_link);
  // Drops the entries not looked up since the last sweep.
  void sweep();
  size_t files_hashed() const { return files_hashed_; }
  size_t size() const { return entries_.size(); }

 private:
  using Key = std::tuple<uint64_t, uint64_t, int64_t, int64_t, int64_t>;  // dev ino size mtime
  struct Entry {
    std::string digest;
    bool used = true;
  };
  std::map<Key, Entry> entries_;
  size_t files_hashed_ = 0;
};

// The exclusion matching a process by its executable: its digest is trusted (any process), or
// a glob matches its exe path (host processes only, `in_container` false). `exe_link` is its
// /proc/<pid>/exe.
std::optional<ExclusionRule> binary_exclusion(const ExclusionConfig& config, ExeDigestCache* cache,
                                              const std::string& exe_link, const std::string& exe,
                                              bool in_container);

// The exclusion matching a Pod (namespace, then pod selectors), or nullopt.
std::optional<ExclusionRule> pod_exclusion(const ExclusionConfig& config,
                                           const nlohmann::json& pod);

// Moves every process of `report` whose Pod (match_pod over `pods`) is excluded to
// report->excluded, with the exclusion that matched.
void apply_pod_exclusions(const ExclusionConfig& config, const nlohmann::json& pods,
                          ScanReport* report);

}  // namespace orderguard::agent
