// Process identity checks: what a process claims to be (comm, argv) against what it is (exe,
// ppid, PF_KTHREAD), plus the miner indicators shared with the webhook (policy::scan_process).
//
// - exe-deleted: exe ends in " (deleted)" (weak: package upgrades do this to daemons).
// - exe-memfd: exe is a memfd (fileless); runc's own memfd:runc_cloned is expected.
// - exe-tmp: exe under /tmp, /var/tmp or /dev/shm.
// - fake-kernel-thread: a kernel-thread name (`[kworker/0:1]` in argv[0], or a comm such as
//   kworkerds) on a process that is not a kernel thread: PF_KTHREAD unset and it has an exe or
//   a ppid other than 2 (kthreadd).
// - huge-pages: HugetlbPages > 0 (RandomX allocates ~2.3 GB of huge pages).
// Real kernel threads (PF_KTHREAD) get no identity findings at all.
#pragma once

#include <vector>

#include "agent/procfs.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

bool looks_like_kernel_thread_name(std::string_view name);

// Pure: findings for one process snapshot.
std::vector<policy::Finding> check_identity(const ProcessSnapshot& process,
                                            const policy::CompiledPolicy& policy);

}  // namespace orderguard::agent
