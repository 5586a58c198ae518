// Environment evidence: a process's /proc/<pid>/environ (NUL-separated "KEY=value", split with
// split_cmdline) for dynamic-loader variables that load code from where no package puts it.
//
// - env-preload: LD_PRELOAD or LD_LIBRARY_PATH with an entry
//     under a world-writable or memory directory (/tmp, /var/tmp, /dev/shm, /run/shm, /proc,
//     /dev), under a home directory (/home, /root, /run/user), in a hidden directory (a path
//     component starting with '.'), relative (LD_LIBRARY_PATH: not absolute; LD_PRELOAD: holds a
//     '/' but does not start with one; a bare library name is searched in the system paths and is
//     fine), or, for LD_PRELOAD, an absolute file that no longer exists (`exists` says so).
//   Entries starting with '$' ($ORIGIN, $LIB) are the loader's own tokens and are not judged.
//   Empty entries are skipped (an empty LD_LIBRARY_PATH element is a common scripting slip).
// One finding per variable, at the variable's environ index; weak, environment class.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

// Why `entry` of `variable` (LD_PRELOAD or LD_LIBRARY_PATH) is suspicious, or empty. Pure.
std::string suspicious_loader_path(std::string_view variable, std::string_view entry);

// Pure except for `exists` (may be empty: not asked), which says whether an absolute LD_PRELOAD
// file exists as the process sees it.
std::vector<policy::Finding> check_environment(
    const std::vector<std::string>& environ, const policy::Scoring& scoring,
    const std::function<bool(const std::string& path)>& exists = {});

}  // namespace orderguard::agent
