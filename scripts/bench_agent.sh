#!/usr/bin/env bash
# Node agent benchmark, on this machine, in one run:
#  - 2,000 extra live processes (`sleep`, started here, killed on exit);
#  - one full scan over them: `orderguard-agent scan` (prime, --interval, scan; whole process,
#    /usr/bin/time: user+sys CPU, wall, max RSS), with and without the hidden-process sweep,
#    next to `ps -eo pid,pcpu,comm,args` and `top -b -n1` over the same processes;
#  - the scan phases alone (agent_scan_bench: prime() = one CPU sample, scan() = second sample,
#    connections, identities, persistence; CPU by getrusage), since the CLI's total also holds
#    process start-up and the first CPU sample: scan 1 after prime() reads every process in
#    full (as the CLI does), scans 2 and 3 are what `run` pays each interval (processes
#    unchanged since a clean check reuse their verdict); medians of each and their ratio to
#    `ps`'s median CPU in the same run;
#  - detection-to-eviction latency (median of LATENCY_RUNS, default 10) and the RSS of
#    `orderguard-agent run` after those scans: agent_run_e2e_test's
#    DetectionToEvictionLatencyFigures against the real control plane of e2e/ (needs root for
#    the cgroups; skipped otherwise).
# Each command runs RUNS times (default 5) interleaved; medians are printed. CPU time is what to
# compare on a shared machine; the load average is printed before and after.
# Usage: scripts/bench_agent.sh [build dir]   (default build/release, the release preset)
# Env: RUNS, PROCESSES (default 2000), LATENCY_RUNS (0 skips), SKIP_BUILD=1, NETNS (default 0:
# that many of the sleep processes each in a network namespace of its own, as Pods have;
# needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build/release}"
RUNS="${RUNS:-5}"
PROCESSES="${PROCESSES:-2000}"
LATENCY_RUNS="${LATENCY_RUNS:-10}"
NETNS="${NETNS:-0}"
if [[ -z "${SKIP_BUILD:-}" ]]; then
  [[ -f "$BUILD/build.ninja" ]] ||
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null  # as the release preset
  cmake --build "$BUILD" --target orderguard-agent agent_scan_bench og_fake_miner \
    agent_run_e2e_test >/dev/null
fi
AGENT="$BUILD/agent/orderguard-agent"
SCAN_BENCH="$BUILD/agent/agent_scan_bench"
[[ -x "$AGENT" && -x "$SCAN_BENCH" ]] || { echo "no $AGENT or $SCAN_BENCH" >&2; exit 1; }

work="$(mktemp -d /tmp/orderguard-agentbench-XXXXXX)"
sleepers=()
cleanup() {
  if ((${#sleepers[@]})); then kill "${sleepers[@]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== uptime before: $(uptime)"

for ((i = 0; i < PROCESSES; i++)); do
  if ((i < NETNS)); then
    unshare --net sleep 86400 &
  else
    sleep 86400 &
  fi
  sleepers+=("$!")
done
sleep 1
total=$(ls -d /proc/[0-9]* | wc -l)
namespaces=$(for p in /proc/[0-9]*; do readlink "$p/ns/net" || true; done 2>/dev/null | sort -u | wc -l)
echo "== $PROCESSES sleep processes started ($NETNS in network namespaces of their own);" \
  "$total processes and $namespaces network namespaces on the host"

# time_cmd NAME CMD...: one run, "NAME user sys wall maxrss_kib" appended to $work/times.
time_cmd() {
  local name="$1"; shift
  /usr/bin/time -f "$name %U %S %e %M" -a -o "$work/times" "$@" >/dev/null 2>"$work/$name.err" ||
    { echo "$name failed:" >&2; cat "$work/$name.err" >&2; }
}
for ((r = 0; r < RUNS; r++)); do
  time_cmd ps ps -eo pid,pcpu,comm,args
  time_cmd top top -b -n1
  time_cmd agent-scan "$AGENT" scan --interval 50ms --no-hidden -o json
  time_cmd agent-scan-hidden "$AGENT" scan --interval 50ms -o json
done
echo
echo "== whole commands, median of $RUNS (CPU = user+sys; agent scan = start-up + first CPU sample + 50 ms + full scan)"
printf '%-20s %10s %10s %10s %10s %12s\n' command user_ms sys_ms cpu_ms wall_ms max_rss_MiB
python3 - "$work/times" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) != 5:
        continue
    rows.setdefault(p[0], []).append(tuple(map(float, p[1:])))
for name in ("ps", "top", "agent-scan", "agent-scan-hidden"):
    r = rows.get(name, [])
    if not r:
        continue
    med = lambda i: statistics.median(x[i] for x in r)
    cpu = statistics.median(x[0] + x[1] for x in r)
    print(f"{name:<20} {med(0)*1e3:10.0f} {med(1)*1e3:10.0f} {cpu*1e3:10.0f} {med(2)*1e3:10.0f} {med(3)/1024:12.1f}")
EOF

# scan_summary FILE LABEL: medians of scan 1 and of scans 2.. (CPU ms) against ps's median.
scan_summary() {
  python3 - "$1" "$2" "$work/times" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.split() and l.split()[0].isdigit()]
ps = [float(p[1]) + float(p[2]) for p in map(str.split, open(sys.argv[3])) if p and p[0] == "ps"]
ps_ms = statistics.median(ps) * 1e3 if ps else float("nan")
for name, pick in (("scan 1 (cold)", lambda s: s == 1), ("scans 2.. (run)", lambda s: s >= 2)):
    cpu = [float(r[4]) for r in rows if pick(int(r[1]))]
    if cpu:
        m = statistics.median(cpu)
        print(f"{sys.argv[2]} {name}: median {m:.1f} ms CPU (range {min(cpu):.1f}-{max(cpu):.1f}),"
              f" {100 * m / ps_ms:.0f} % of ps's median {ps_ms:.0f} ms")
EOF
}
echo
echo "== scan phases alone (agent_scan_bench, $RUNS runs of prime + 3 scans; CPU by getrusage)"
"$SCAN_BENCH" --runs "$RUNS" | tee "$work/scan"
echo "-- with the hidden-process sweep (kill(pid, 0) up to pid_max=$(cat /proc/sys/kernel/pid_max)):"
"$SCAN_BENCH" --runs "$RUNS" --hidden | tee "$work/scan_hidden"
scan_summary "$work/scan" "no sweep:"
scan_summary "$work/scan_hidden" "with sweep:"

if ((LATENCY_RUNS > 0)); then
  echo
  echo "== detection-to-eviction latency (agent_run_e2e_test, $LATENCY_RUNS runs, --interval 2s, $PROCESSES extra processes alive)"
  export ORDERGUARD_TOOLS_BIN="${ORDERGUARD_TOOLS_BIN:-$(e2e/tools/build.sh)}"
  ORDERGUARD_AGENT_LATENCY_RUNS="$LATENCY_RUNS" \
    "$BUILD/agent/agent_run_e2e_test" --gtest_filter='*DetectionToEvictionLatencyFigures' \
    >"$work/latency.log" 2>&1 || { tail -40 "$work/latency.log"; exit 1; }
  grep -E '^(latency_|agent_)|SKIPPED|Skipped' "$work/latency.log" || tail -20 "$work/latency.log"
fi
echo
echo "== uptime after: $(uptime)"
