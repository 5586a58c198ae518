// Process identity checks: what a process claims to be (comm, argv) against what it is (exe,
// ppid, PF_KTHREAD), plus the miner indicators shared with the webhook (policy::scan_process).
//
// - exe-deleted: exe ends in " (deleted)" (weak: package upgrades do this to daemons).
// - exe-memfd: exe is a memfd (fileless); runc's own memfd:runc_cloned is expected.
// - exe-tmp: exe under /tmp, /var/tmp or /dev/shm.
// - fake-kernel-thread: a kernel-thread name (`[kworker/0:1]` in argv[0], or a comm such as
//   kworkerds) on a process that is not a kernel thread: PF_KTHREAD unset and it has an exe or
//   a ppid other than 2 (kthreadd).
// - argv0-mismatch: argv[0] names a well-known program (kWellKnownPrograms in identity.cpp:
//   nginx, sshd, postgres, java, bash, kubelet, ...) and the executable is another program
//   ("nginx: worker process" running /tmp/x). The name is argv[0]'s first word, path and a
//   leading '-' (login shells) and trailing ':' stripped; the executable's basename matches it
//   exactly, with a version suffix (python3.11, php-fpm8.2) or as a known alias (mysqld and
//   mariadbd, sh and dash). Multi-call binaries (busybox, toybox) and the dynamic loader (a
//   program started as `ld.so prog`) match every name; no executable (a kernel thread, no
//   ptrace rights) is no evidence, and a memfd executable is exe-memfd's evidence already.
// - huge-pages: HugetlbPages > 0 (RandomX allocates ~2.3 GB of huge pages).
// Real kernel threads (PF_KTHREAD) get no identity findings at all.
#pragma once

#include <vector>

#include "agent/procfs.h"
#include "policy/finding.h"
#include "policy/miner_policy.h"

namespace orderguard::agent {

bool looks_like_kernel_thread_name(std::string_view name);

// The well-known program argv[0] claims to be ("nginx" for "nginx: worker process"), or empty.
std::string_view claimed_program(std::string_view argv0);
// Whether an executable path (readlink of /proc/<pid>/exe) can be `program`.
bool exe_matches_program(std::string_view exe, std::string_view program);

// Pure: findings for one process snapshot.
std::vector<policy::Finding> check_identity(const ProcessSnapshot& process,
                                            const policy::CompiledPolicy& policy);

}  // namespace orderguard::agent
