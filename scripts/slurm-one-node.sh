#!/usr/bin/env bash
# slurm-one-node.sh: start, check and stop a real one-node Slurm cluster on this machine, for
# convlab's ablation engine tests and CI (the engine submits sweeps as job arrays:
# `sbatch --array=0-N%cap wrapper.sh`).
#
#   scripts/slurm-one-node.sh up     [--force] [STATE_DIR]   start (installs slurm-wlm + munge if missing)
#   scripts/slurm-one-node.sh down   [STATE_DIR]             stop everything `up` started (idempotent)
#   scripts/slurm-one-node.sh status [STATE_DIR]             up or not, then sinfo/squeue; exit 0 up, 3 not up
#   scripts/slurm-one-node.sh smoke  [STATE_DIR]             up if needed, run a 4-task array (%2), check it;
#                                                            leaves the cluster up
#
# STATE_DIR (default /tmp/convlab-slurm, or CONVLAB_SLURM_STATE) holds the pids this script
# recorded (munged.pid, slurmctld.pid, slurmd.pid), the daemons' logs (slurmctld.log, slurmd.log;
# <daemon>.console is their stderr: munged's log, and errors from before a log file is open,
# e.g. slurm.conf parse errors), the previous start's logs as *.1, and apt.log. `down` and
# `status` without STATE_DIR use the one `up` wrote into slurm.conf.
#
# How tests use it (needs root, Debian/Ubuntu with apt-get; no systemd needed):
#
#   scripts/slurm-one-node.sh up
#   trap 'scripts/slurm-one-node.sh down' EXIT     # also on failure
#   sbatch --parsable --array=0-3%2 --cpus-per-task=1 --chdir=RUN_DIR \
#          --output=RUN_DIR/%A_%a.out --export=ALL wrapper.sh      # prints JOBID (or JOBID;cluster)
#
# (in Rust: run `up` in the test's set-up and `down` from a Drop guard). `up` when the cluster
# is already up is a no-op, so several tests can share one cluster and one `down` at the end.
# Exit status: 0 success; 1 failure (with the reason and, for `up`, the daemons' logs on
# stderr); `status` 3 when not up; 2 usage.
#
# What `up` does and why:
#   * apt-get install --no-install-recommends slurm-wlm munge, only when a binary is missing
#     (~10-20 s). Service starts by the packages' postinst are blocked with a temporary
#     policy-rc.d (only if none exists) so no systemd/init copy of munged or slurmd competes.
#   * writes /etc/slurm/slurm.conf (the default path every Slurm command reads, so convlab can
#     call plain `sbatch`/`squeue`), first line a marker comment. A slurm.conf without the marker
#     is somebody else's: `up` refuses, or with --force saves it as slurm.conf.convlab-backup
#     (`down`, or a failed `up`, puts it back).
#   * settings (see write_conf):
#     - SlurmctldHost/NodeAddr 127.0.0.1: an unresolvable hostname does not matter.
#     - CPUs=$(nproc), RealMemory=90% of MemTotal: `--mem` requests are satisfiable (without
#       RealMemory the node has 1 MB); slurmd would drain a node reporting less than configured.
#     - select/cons_tres + CR_Core: each task gets whole cores (1 by default), so on 2 cores at
#       most 2 tasks run at once whatever the array's %cap, and --cpus-per-task=2 runs 1 at a time.
#     - task/affinity: pins each task to its cores (nproc inside a 1-cpu task says 1, so thread
#       pools size themselves right); with task/none every task saw both cores. No cgroups are
#       needed (proctrack/linuxproc), so it works in containers without systemd.
#     - EnforcePartLimits=ALL: a request the node can never satisfy (--cpus-per-task=3 on 2
#       cores) is rejected by sbatch instead of pending forever (Reason=PartitionConfig).
#     - no accounting (sacct is unavailable; see completion below). MinJobAge=600 keeps a finished
#       job's record (JobState, ExitCode) for 10 minutes. MailProg=/bin/true silences an error.
#     - SchedulerParameters=sched_interval=1: the main scheduler runs every second instead of
#       every 60 s with ~3 s event-driven delays; a throttled array refills a freed slot in ~1 s
#       (a 4-task %2 array of `echo`s: ~2 s instead of ~6 s). Costs nothing on one node.
#     - ReturnToService=2 and a removed node_state file: a restarted node comes back idle, never
#       stuck DOWN/DRAINED from an earlier run.
#   * the controller's job state lives in /var/spool/convlab-slurm/ctld and survives down/up, so
#     job ids keep increasing (an old id is never reused, finished jobs stay queryable); jobs left
#     over from a crashed run are cancelled by `up`. Spool dirs are under /var/spool, not
#     STATE_DIR, because slurmd executes batch scripts from its spool and /tmp may be noexec.
#   * starts munged (unless a working munged already answers, e.g. the system's one: then it is
#     used and not stopped by `down`), slurmctld and slurmd in foreground mode (-F/-D) under
#     setsid, stdio redirected to files and other fds closed: their pids are exactly known, they
#     survive the caller's process group, and they never hold the caller's pipes open (a test
#     capturing `up`'s output would otherwise hang). munged runs as root with --force (it warns
#     about the key's ownership, harmless) which also clears a stale socket after a crash.
#   * waits (CONVLAB_SLURM_UP_TIMEOUT, default 30 s) until `sinfo -h -o %t` says idle; if a daemon
#     exits or time runs out, prints the daemons' logs, stops what it started and exits 1.
#
# `down`: cancels all jobs (job steps outlive slurmd, so this is what stops running tasks), waits
# for the queue to drain, `scontrol shutdown`, waits for both daemons to exit, then TERM (KILL
# after 5 s) to any recorded pid still alive, munged last. Bounded (CONVLAB_SLURM_DOWN_TIMEOUT,
# default 20 s per wait); a no-op when nothing runs. Pids are checked against /proc/PID/comm
# (and zombies ignored) so a recycled pid is never signalled.
#
# Completion of an array task, without accounting (checked on slurm 22.05):
#   squeue -h -j JOBID_TASK -t PD,CF,R,CG,S  (or the array: squeue -h -j JOBID)
#     - prints a line while the task is pending (also while still folded into JOBID_[2-3%2]),
#       configuring, running or completing;
#     - prints nothing, exit 0, once it has finished (while its record is kept, MinJobAge);
#     - after that: "slurm_load_jobs error: Invalid job id specified" on stderr, exit 1 = finished;
#     - "Unable to contact slurm controller", exit 1 = unknown: retry, do not treat as finished.
# Exit state: most reliable is the wrapper writing its own exit code
#   (`convlab train ...; rc=$?; echo $rc > DIR/exit.tmp && mv DIR/exit.tmp DIR/exit; exit $rc`):
#   it survives record expiry; a finished task without that file was killed (scancel, time
#   limit, node failure). Second source, for 10 minutes: `scontrol show job JOBID_TASK` gives
#   JobState=COMPLETED|FAILED|CANCELLED|TIMEOUT ExitCode=CODE:SIGNAL (e.g. FAILED 7:0).
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C

MARKER='# managed-by: convlab scripts/slurm-one-node.sh (remove this line to keep it from being overwritten)'
CONF=/etc/slurm/slurm.conf
BACKUP=$CONF.convlab-backup
SPOOL=/var/spool/convlab-slurm
DEFAULT_STATE=${CONVLAB_SLURM_STATE:-/tmp/convlab-slurm}
UP_TIMEOUT=${CONVLAB_SLURM_UP_TIMEOUT:-30}
DOWN_TIMEOUT=${CONVLAB_SLURM_DOWN_TIMEOUT:-20}
SMOKE_TIMEOUT=${CONVLAB_SLURM_SMOKE_TIMEOUT:-60}
# Slurm client commands retry for a long time when the controller is gone; bound them.
CLIENT_TIMEOUT=15
ACTIVE_STATES=PD,CF,R,CG,S,RQ,RS,RF,RH,RD,SO,SI,ST

LOCK=/tmp/convlab-slurm-one-node.lock

say() { echo "slurm-one-node: $*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
sl() { timeout "$CLIENT_TIMEOUT" "$@"; } # a Slurm client command, bounded

# Serialise up/down: cargo runs tests in parallel, and two `up`s must not both start daemons.
# (spawn closes fd 9 in the daemons, so they never inherit the lock.)
lock() {
  exec 9>>"$LOCK"
  flock -w 120 9 || die "another slurm-one-node.sh held $LOCK for 120 s"
}
unlock() { exec 9>&-; }

# State dir: explicit argument, else the one recorded in our slurm.conf, else the default.
state_dir() {
  if [[ -n ${1:-} ]]; then echo "$1"; return; fi
  if [[ -f $CONF ]] && grep -qxF "$MARKER" "$CONF"; then
    local d
    d=$(sed -n 's/^# state-dir: //p' "$CONF" | head -n1)
    if [[ -n $d ]]; then echo "$d"; return; fi
  fi
  echo "$DEFAULT_STATE"
}

zombie() {
  local stat
  stat=$(cat /proc/"$1"/stat 2>/dev/null) || return 0 # gone counts as dead too
  stat=${stat##*) }
  [[ ${stat%% *} == Z ]]
}

# alive NAME: the pid recorded in $STATE/NAME.pid runs a process whose comm is NAME and which
# is not a zombie. Prints the pid.
alive() {
  local name=$1 f="$STATE/$1.pid" pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cat /proc/"$pid"/comm 2>/dev/null) == "$name" ]] || return 1
  zombie "$pid" && return 1
  echo "$pid"
}

# Some process named NAME runs that is not the one we recorded (a foreign daemon).
foreign() {
  local name=$1 mine pids p
  mine=$(alive "$name" || true)
  pids=$(pgrep -x "$name" || true)
  for p in $pids; do
    [[ $p == "$mine" ]] && continue
    zombie "$p" && continue # killed daemons linger as zombies until init reaps them
    echo "$p"
    return 0
  done
  return 1
}

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

# spawn NAME CMD...: start CMD in its own session, stdio to $STATE/NAME.console, no other fds
# inherited; record its pid in $STATE/NAME.pid.
spawn() {
  local name=$1; shift
  (
    exec </dev/null >>"$STATE/$name.console" 2>&1
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      if ((fd > 2)); then eval "exec $fd>&-"; fi
    done
    exec setsid "$@"
  ) &
  local pid=$! i
  disown "$pid" 2>/dev/null || true # no "Killed" notices from this shell if we must SIGKILL it
  echo "$pid" >"$STATE/$name.pid"
  # Until the subshell has exec'd, /proc/PID/comm is bash's: wait for the daemon's name.
  for ((i = 0; i < 50; i++)); do
    [[ $(cat /proc/"$pid"/comm 2>/dev/null) == "$name" ]] && return 0
    [[ -d /proc/$pid ]] || return 0
    sleep 0.05
  done
}

# kill_recorded NAME SECONDS: TERM the recorded pid, wait, then KILL.
kill_recorded() {
  local name=$1 secs=$2 pid i
  pid=$(alive "$name") || { rm -f "$STATE/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    alive "$name" >/dev/null || break
    sleep 0.1
  done
  if alive "$name" >/dev/null; then
    say "$name (pid $pid) ignored SIGTERM for ${secs}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do alive "$name" >/dev/null || break; sleep 0.1; done
  fi
  alive "$name" >/dev/null && { say "$name (pid $pid) is still running"; return 1; }
  rm -f "$STATE/$name.pid"
}

node_state() { sl sinfo -h -o %t 2>/dev/null | head -n1 || true; }

# The slurm daemons in -D mode write everything to both their log file and stderr (.console);
# the console alone has errors from before the log file was opened (e.g. slurm.conf parsing).
print_logs() {
  local p f
  for p in munged slurmctld slurmd; do
    f=$STATE/$p.log
    [[ -s $f ]] || f=$STATE/$p.console
    [[ -s $f ]] || continue
    echo "----- $f (last 30 lines) -----" >&2
    tail -n 30 "$f" >&2
  done
}

ensure_packages() {
  local missing=() c
  for c in munged munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install slurm-wlm munge"
  say "installing slurm-wlm munge with apt-get (missing: ${missing[*]}); log in $STATE/apt.log"
  local t0 policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
  t0=$(now)
  if [[ ! -e $policy ]]; then # keep postinst scripts from starting system copies of the daemons
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local apt=(apt-get -y -q -o DPkg::Lock::Timeout=120 install --no-install-recommends slurm-wlm munge)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" >"$STATE/apt.log" 2>&1; then
    say "apt-get install failed; running apt-get update and retrying"
    { apt-get -q -o DPkg::Lock::Timeout=120 update && "${apt[@]}"; } >>"$STATE/apt.log" 2>&1 || rc=$?
  fi
  ((made_policy)) && rm -f "$policy"
  if ((rc != 0)); then
    tail -n 30 "$STATE/apt.log" >&2
    die "apt-get install slurm-wlm munge failed (exit $rc); full log: $STATE/apt.log"
  fi
  for c in "${missing[@]}"; do
    command -v "$c" >/dev/null 2>&1 || die "apt-get install succeeded but $c is still missing"
  done
  say "installed in $(since "$t0") s"
}

write_conf() {
  local force=$1 host cpus mem tmp
  if [[ -e $CONF ]] && ! grep -qxF "$MARKER" "$CONF"; then
    if ((force)); then
      [[ -e $BACKUP ]] || cp -p "$CONF" "$BACKUP"
      say "--force: replacing the foreign $CONF (saved as $BACKUP; \`down\` restores it)"
    else
      die "$CONF exists and was not written by this script; refusing to overwrite it. Stop that cluster and move the file away, or pass --force (saves it as $BACKUP, restored by \`down\`)."
    fi
  fi
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  mkdir -p "$(dirname "$CONF")"
  tmp=$(mktemp "$CONF.XXXXXX")
  cat >"$tmp" <<CONF
$MARKER
# state-dir: $STATE
# Written by \`scripts/slurm-one-node.sh up\` on $(date -u +%Y-%m-%dT%H:%M:%SZ); see that script.
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
MailProg=/bin/true
ReturnToService=2
MinJobAge=600
EnforcePartLimits=ALL
JobAcctGatherType=jobacct_gather/none
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  chmod 644 "$tmp"
  mv -f "$tmp" "$CONF"
}

is_up() { alive slurmctld >/dev/null && alive slurmd >/dev/null && { alive munged >/dev/null || munge_works; }; }

# ---------------------------------------------------------------------------------------------
cmd_up() {
  local force=0 arg t0 i st p
  for arg in "$@"; do
    case $arg in
      --force) force=1 ;;
      -*) die "up: unknown option $arg" ;;
      *) STATE_ARG=$arg ;;
    esac
  done
  ((EUID == 0)) || die "must run as root (the daemons run as root and it writes /etc/slurm)"
  lock
  STATE=$(state_dir "${STATE_ARG:-}")
  mkdir -p "$STATE/run"
  t0=$(now)

  if is_up; then
    say "already up (slurmctld $(alive slurmctld), slurmd $(alive slurmd), munged $(alive munged || echo 'not ours')); nothing to do"
    unlock
    return 0
  fi
  if alive slurmctld >/dev/null || alive slurmd >/dev/null || alive munged >/dev/null; then
    say "partially up (a daemon died); stopping the rest first"
    stop_all
  fi
  for p in slurmctld slurmd; do
    if st=$(foreign "$p"); then
      die "a $p (pid $st) that this script did not start is running; stop it first"
    fi
  done

  ensure_packages
  write_conf "$force"

  # Fresh logs (keep one previous generation for post-mortems).
  for p in munged slurmctld slurmd; do
    for st in log console; do
      [[ -e $STATE/$p.$st ]] && mv -f "$STATE/$p.$st" "$STATE/$p.$st.1"
    done
  done
  mkdir -p "$SPOOL/ctld" "$SPOOL/d" /run/munge /var/log/munge /var/lib/munge
  # Node DOWN/DRAIN states survive restarts in node_state; the config is the truth here.
  rm -f "$SPOOL/ctld"/node_state "$SPOOL/ctld"/node_state.old
  rm -f "$STATE/run/slurmctld.pid" "$STATE/run/slurmd.pid"

  if munge_works; then
    say "a munged is already running; using it (it is not ours, so \`down\` leaves it alone)"
    rm -f "$STATE/munged.pid"
  else
    [[ -f /etc/munge/munge.key ]] || die "/etc/munge/munge.key is missing (reinstall munge, or run mungekey)"
    # --force: run as root and remove a stale socket left by a killed munged.
    # In the foreground munged logs to stderr, i.e. to munged.console.
    spawn munged munged -F --force --pid-file="$STATE/run/munged.pid"
    for ((i = 0; i < 100; i++)); do
      munge_works && break
      alive munged >/dev/null || break
      sleep 0.1
    done
    munge_works || fail_up "munged did not start"
  fi

  spawn slurmctld slurmctld -D -i
  spawn slurmd slurmd -D

  local ok=0 cancelled=0 why=
  st=
  for ((i = 0; i < UP_TIMEOUT * 4; i++)); do
    if ! alive slurmctld >/dev/null || ! alive slurmd >/dev/null; then
      why="$(alive slurmctld >/dev/null || echo 'slurmctld ')$(alive slurmd >/dev/null || echo 'slurmd ')exited during start-up"
      break
    fi
    st=$(node_state)
    if [[ -n $st && $cancelled == 0 ]]; then
      # The controller answers: cancel jobs a crashed earlier run left in the queue.
      local left
      left=$(sl squeue -h -o %F -t "$ACTIVE_STATES" 2>/dev/null | sort -u | tr '\n' ' ' || true)
      if [[ -n ${left// /} ]]; then
        say "cancelling jobs left from an earlier run: $left"
        # shellcheck disable=SC2086
        sl scancel $left || true
      fi
      cancelled=1
    fi
    if [[ $st == idle ]]; then ok=1; break; fi
    sleep 0.25
  done
  [[ -n $why ]] || why="the node did not become idle within ${UP_TIMEOUT}s (sinfo state: ${st:-no answer})"
  ((ok)) || fail_up "$why"
  unlock
  say "up in $(since "$t0") s (slurmctld $(alive slurmctld), slurmd $(alive slurmd), munged $(alive munged || echo 'not ours'); logs in $STATE)"
}

restore_backup() {
  if [[ -e $BACKUP ]]; then
    mv -f "$BACKUP" "$CONF"
    say "restored the previous $CONF"
  fi
}

# `up` failed: show why, stop what was started, put a foreign config back.
fail_up() {
  say "$1"
  print_logs
  stop_all || true
  restore_backup
  exit 1
}

# Stop what we started: cancel jobs, `scontrol shutdown`, then the recorded pids; munged last.
stop_all() {
  local i left
  if alive slurmctld >/dev/null; then
    left=$(sl squeue -h -o %F -t "$ACTIVE_STATES" 2>/dev/null | sort -u | tr '\n' ' ' || true)
    if [[ -n ${left// /} ]]; then
      say "cancelling jobs: $left"
      # shellcheck disable=SC2086
      sl scancel $left || true
      for ((i = 0; i < DOWN_TIMEOUT * 4; i++)); do
        [[ -z $(sl squeue -h -t "$ACTIVE_STATES" 2>/dev/null || true) ]] && break
        sleep 0.25
      done
    fi
    sl scontrol shutdown >/dev/null 2>&1 || say "scontrol shutdown failed; signalling the daemons"
    for ((i = 0; i < DOWN_TIMEOUT * 4; i++)); do
      alive slurmctld >/dev/null || alive slurmd >/dev/null || break
      sleep 0.25
    done
  fi
  local rc=0
  kill_recorded slurmd 5 || rc=1
  kill_recorded slurmctld 5 || rc=1
  kill_recorded munged 5 || rc=1
  return $rc
}

cmd_down() {
  ((EUID == 0)) || die "must run as root"
  lock
  STATE=$(state_dir "${1:-}")
  local t0 rc=0 p
  t0=$(now)
  if ! alive slurmctld >/dev/null && ! alive slurmd >/dev/null && ! alive munged >/dev/null; then
    rm -f "$STATE"/{slurmctld,slurmd,munged}.pid
    say "not running (state dir $STATE)"
  else
    stop_all || rc=1
    ((rc == 0)) && say "down in $(since "$t0") s"
  fi
  restore_backup
  # Job steps outlive slurmd; after scancel none should be left. Report, do not guess-kill.
  local i q
  for ((i = 0; i < 20; i++)); do
    p=
    for q in $(pgrep -x slurmstepd || true); do zombie "$q" || p+="$q "; done
    [[ -z $p ]] && break
    sleep 0.25
  done
  [[ -z $p ]] || say "warning: slurmstepd processes still running: $p"
  return $rc
}

cmd_status() {
  STATE=$(state_dir "${1:-}")
  if is_up; then
    echo "up: slurmctld pid $(alive slurmctld), slurmd pid $(alive slurmd), munged pid $(alive munged || echo '(not ours)'); state dir $STATE"
    sl sinfo || true
    sl squeue || true
    return 0
  fi
  local p any=0
  for p in slurmctld slurmd munged; do
    if alive "$p" >/dev/null; then echo "$p running (pid $(alive "$p"))"; any=1; fi
  done
  if ((any)); then echo "partially up (state dir $STATE)"; else echo "down (state dir $STATE)"; fi
  return 3
}

cmd_smoke() {
  cmd_up "$@"
  local tmp id t0 i out n=4 bad=0 states
  tmp=$(mktemp -d /tmp/convlab-slurm-smoke.XXXXXX)
  t0=$(now)
  # shellcheck disable=SC2016 # expanded by the task's shell
  id=$(sl sbatch --parsable --array=0-$((n - 1))%2 --chdir="$tmp" --output="$tmp/%A_%a.out" \
    --wrap 'echo task $SLURM_ARRAY_TASK_ID')
  id=${id%%;*}
  [[ $id =~ ^[0-9]+$ ]] || die "sbatch did not return a job id: '$id'"
  say "submitted array job $id (0-$((n - 1))%2), outputs in $tmp"
  for ((i = 0; i < SMOKE_TIMEOUT * 4; i++)); do
    out=$(sl squeue -h -j "$id" -t "$ACTIVE_STATES" 2>&1) || true
    [[ -z $out || $out == *"Invalid job id"* ]] && break
    sleep 0.25
  done
  [[ -z $out || $out == *"Invalid job id"* ]] || die "array $id not finished after ${SMOKE_TIMEOUT}s: $out"
  for ((i = 0; i < n; i++)); do
    if [[ "$(cat "$tmp/${id}_$i.out" 2>/dev/null)" != "task $i" ]]; then
      say "bad output $tmp/${id}_$i.out: '$(cat "$tmp/${id}_$i.out" 2>&1)'"
      bad=1
    fi
  done
  states=$(sl scontrol show job "$id" 2>/dev/null | grep -o 'JobState=[A-Z_]*\|ExitCode=[0-9:]*' \
    | paste -d' ' - - | sort | uniq -c | sed 's/^ *//' | tr '\n' ';' || true)
  if [[ $states != "$n JobState=COMPLETED ExitCode=0:0;" ]]; then
    say "unexpected task states: $states"
    bad=1
  fi
  ((bad)) && die "smoke test failed (outputs kept in $tmp)"
  rm -rf "$tmp"
  say "smoke ok: $n-task array $id (%2) finished and checked in $(since "$t0") s"
}

STATE_ARG=
sub=${1:-}
[[ $# -gt 0 ]] && shift
case $sub in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  smoke) cmd_smoke "$@" ;;
  *)
    echo "usage: $0 up [--force] [STATE_DIR] | down [STATE_DIR] | status [STATE_DIR] | smoke [STATE_DIR]" >&2
    exit 2
    ;;
esac
