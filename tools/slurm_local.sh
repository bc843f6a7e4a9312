#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for tests of utils/slurm.pl and recipe runs
# with cmd_backend=slurm (no systemd needed: the daemons are started directly).
#
#   tools/slurm_local.sh start    # install slurm-wlm + munge if missing, start the cluster
#   tools/slurm_local.sh status   # what runs
#   tools/slurm_local.sh stop     # stop it (running jobs are cancelled first)
#   . "${SEPPLUG_SLURM_DIR:-/tmp/sepplug_slurm}/env.sh"   # then sbatch, squeue, ... find it
#
# Everything lives in a state dir the script owns ($SEPPLUG_SLURM_DIR, default
# /tmp/sepplug_slurm): slurm.conf, a munge key of its own, the state/spool dirs, pid and log
# files. The system's /etc/slurm and /etc/munge are left alone: clients find the cluster
# through SLURM_CONF, which env.sh exports. The node is this host (`hostname -s`) with the
# CPUs and memory `slurmd -C` reports; one partition `local`; no accounting (sacct does not
# work, squeue/scontrol do: finished jobs stay listed for $SEPPLUG_SLURM_MIN_JOB_AGE s).
# Both commands are idempotent. Environment:
#   SEPPLUG_SLURM_DIR      state dir (default /tmp/sepplug_slurm)
#   SEPPLUG_SLURM_PORT     slurmctld's port; slurmd takes the next one (default 6817)
#   SEPPLUG_SLURM_TIMEOUT  seconds to wait for the node to come up idle (default 60)
#   SEPPLUG_SLURM_MIN_JOB_AGE  seconds a finished job stays in squeue/scontrol (default 3600)
# Needs root (SlurmUser=root; apt-get when Slurm is missing). A machine with a Slurm of its
# own (a slurmctld or slurmd not started by this script) is refused, not touched.
set -euo pipefail

dir=${SEPPLUG_SLURM_DIR:-/tmp/sepplug_slurm}
port=${SEPPLUG_SLURM_PORT:-6817}
timeout=${SEPPLUG_SLURM_TIMEOUT:-60}
min_job_age=${SEPPLUG_SLURM_MIN_JOB_AGE:-3600}
conf=$dir/slurm.conf
prog=$(basename "$0")

die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*"; }

# pid_of DAEMON: the pid in our pid file when that process is alive, else nothing.
pid_of() {
    local file=$dir/run/$1.pid pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
        && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]; then
        echo "$pid"
    fi
}

# foreign DAEMON: pids of DAEMON processes that are not ours (another Slurm on this machine).
# slurmd's and slurmctld's helper processes (slurmstepd, slurmscriptd) have other names.
foreign() {
    local ours pid
    ours=$(pid_of "$1")
    for pid in $(pgrep -x "$1" || true); do
        # not the zombies a daemon's first fork leaves where PID 1 does not reap (containers)
        [ "$pid" = "$ours" ] || [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" = Z ] \
            || echo "$pid"
    done
}

log_tails() {
    local f
    for f in "$dir"/log/*.log; do
        [ -f "$f" ] || continue
        echo "---- the last 15 lines of $f:" >&2
        tail -n 15 "$f" >&2
    done
}

# Slurm and munge from the distribution's packages, when a command is missing (apt-get update
# only when the package lists do not know slurm-wlm yet).
install_slurm() {
    local missing=() cmd
    for cmd in munged slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    command -v apt-get >/dev/null \
        || die "${missing[*]} not found and no apt-get to install slurm-wlm and munge with"
    say "${missing[*]} not found: installing slurm-wlm and munge (apt-get)"
    local out
    out=$(mktemp)
    if ! apt-cache show slurm-wlm >/dev/null 2>&1; then
        apt-get update -qq >"$out" 2>&1 || { cat "$out" >&2; rm -f "$out"; die "apt-get update failed"; }
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >"$out" 2>&1 \
        || { cat "$out" >&2; rm -f "$out"; die "apt-get install slurm-wlm munge failed (above)"; }
    rm -f "$out"
    for cmd in "${missing[@]}"; do
        command -v "$cmd" >/dev/null || die "$cmd still missing after installing slurm-wlm"
    done
}

write_config() {
    local node node_line
    node=$(hostname -s)
    # slurmd -C: "NodeName=<host> CPUs=.. Boards=.. SocketsPerBoard=.. ... RealMemory=..",
    # this machine as Slurm sees it (its first line; the second is the uptime).
    node_line=$(slurmd -C | head -n 1)
    [[ $node_line == "NodeName=$node "* ]] || die "slurmd -C printed '$node_line', not NodeName=$node ..."
    # Root daemons read their config and key from $dir: a dir (or a parent made for it) that
    # another user owns or may write could hand them a config of theirs (e.g. a Prolog=).
    (umask 022 && mkdir -p "$dir")
    local d
    for d in "$dir" "$dir"/*; do
        [ -e "$d" ] || continue
        if [ "$(stat -c %u "$d")" != 0 ] || [ -n "$(find "$d" -maxdepth 0 -perm /022)" ]; then
            die "$d is not owned by root or is group/world-writable: refusing to run root" \
                "daemons from it (remove it, or set SEPPLUG_SLURM_DIR to a dir of root's)"
        fi
    done
    mkdir -p "$dir"/{state,spool,run,log,munge}
    chmod 755 "$dir" "$dir/munge"  # (munged wants its socket's dir reachable; the key is 0600)
    if [ ! -s "$dir/munge/munge.key" ]; then  # a key of our own: the system's is not touched
        (umask 077 && dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none)
    fi
    cat >"$conf" <<EOF
# Written by tools/slurm_local.sh: a one-node test cluster; state in $dir.
ClusterName=sepplug
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munged.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups (a container may not have them): processes tracked through their parents
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
# cores are the consumable resource, memory is not: jobs without --mem run side by side
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# a job this node can never run (more nodes, CPUs or memory than it has) is refused at
# submission, not left pending for ever
EnforcePartLimits=ALL
# finished jobs stay in squeue -t all / scontrol show job (what tests look at: no sacct)
MinJobAge=$min_job_age
InactiveLimit=0
KillWait=5
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    printf '# tools/slurm_local.sh: source this to use its cluster (sbatch, squeue, utils/slurm.pl)\nexport SLURM_CONF=%q\n' \
        "$conf" >"$dir/env.sh"
}

node_state() { SLURM_CONF=$conf sinfo -h -n "$(hostname -s)" -o %t 2>/dev/null || true; }

start() {
    local d pids t0 state
    for d in slurmctld slurmd; do
        pids=$(foreign "$d")
        [ -z "$pids" ] || die "a $d that is not this state dir's ($dir) runs here" \
            "(pid ${pids//$'\n'/ }): another Slurm on this machine (its own, or this script's" \
            "with another SEPPLUG_SLURM_DIR); use that one, or stop it first"
    done
    if [ -n "$(pid_of slurmctld)" ] && [ -n "$(pid_of slurmd)" ] && [ -n "$(pid_of munged)" ]; then
        say "already running (state in $dir; node $(hostname -s) $(node_state))"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "needs root (its daemons run as SlurmUser=root), not $(id -un)"
    install_slurm
    # A half-started cluster (one daemon died) is restarted as a whole.
    stop_daemons quiet
    write_config
    export SLURM_CONF=$conf
    say "starting munged, slurmctld, slurmd (state in $dir)"
    munged --force --socket="$dir/munge/munged.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed" \
        || { log_tails; die "munged did not start"; }
    # -c: no jobs or nodes from an earlier run of this test cluster
    slurmctld -c -f "$conf" || { log_tails; stop_daemons quiet; die "slurmctld did not start"; }
    slurmd -f "$conf" || { log_tails; stop_daemons quiet; die "slurmd did not start"; }
    t0=$(date +%s)
    while :; do
        state=$(node_state)
        case $state in idle|idle~|mix|alloc) break ;; esac
        if [ $(( $(date +%s) - t0 )) -ge "$timeout" ]; then
            log_tails
            stop_daemons quiet
            die "node $(hostname -s) not idle after ${timeout}s (sinfo says '${state:-nothing}');" \
                "the daemons' logs are above; stopped them again"
        fi
        sleep 0.5
    done
    say "running: node $(hostname -s) $state ($(grep -o 'CPUs=[0-9]*' "$conf")" \
        "$(grep -o 'RealMemory=[0-9]*' "$conf") MB); to use it: . $dir/env.sh"
}

# clients: pids of the sbatch/srun/salloc processes that use this cluster (SLURM_CONF=$conf
# in their environment), e.g. an `sbatch --wait` of utils/slurm.pl.
clients() {
    local p
    for p in $(pgrep -x sbatch; pgrep -x srun; pgrep -x salloc); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$conf" && echo "$p"
    done
    return 0
}

# stop_daemons [quiet]: cancel the cluster's jobs, end its clients, then stop slurmd,
# slurmctld, munged (TERM, then KILL after 15 s) and wait until they are gone.
stop_daemons() {
    local d pid stopped=() waiting
    if [ -n "$(pid_of slurmctld)" ]; then
        SLURM_CONF=$conf scancel --quiet --user="$(id -un)" 2>/dev/null || true
        # give slurmd a moment to end the jobs' slurmstepd before it goes itself
        for _ in $(seq 20); do
            [ -z "$(SLURM_CONF=$conf squeue -h -t running,completing 2>/dev/null)" ] && break
            sleep 0.5
        done
        # An `sbatch --wait` learns that its job ended at its next poll (every 2 to 10 s);
        # once the controller is gone it would wait for ever: up to 12 s for them, then TERM.
        for _ in $(seq 24); do
            [ -n "$(clients)" ] || break
            sleep 0.5
        done
        waiting=$(clients)
        if [ -n "$waiting" ]; then
            echo "$prog: ending the cluster's waiting clients: pid ${waiting//$'\n'/ }" >&2
            # shellcheck disable=SC2086  # a list of pids
            kill -TERM $waiting 2>/dev/null || true
        fi
    fi
    for d in slurmd slurmctld munged; do
        pid=$(pid_of "$d")
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$prog: $d (pid $pid) ignored TERM for 15 s: killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$dir/run/$d.pid"
        stopped+=("$d ($pid)")
    done
    if [ "${1:-}" != quiet ]; then
        if [ ${#stopped[@]} -gt 0 ]; then say "stopped ${stopped[*]}"; else say "not running"; fi
    fi
}

status() {
    local d pid pids any=0
    for d in munged slurmctld slurmd; do
        pid=$(pid_of "$d")
        if [ -n "$pid" ]; then
            say "$d running (pid $pid)"; any=1
        else
            say "$d not running"
        fi
        pids=$(foreign "$d")
        [ -z "$pids" ] || say "  (a $d of another Slurm runs here: pid ${pids//$'\n'/ })"
    done
    if [ -n "$(pid_of slurmctld)" ]; then
        SLURM_CONF=$conf sinfo -N -o '%N %t %c CPUs %m MB %G' || true
        SLURM_CONF=$conf squeue || true
        echo "to use it: . $dir/env.sh"
    fi
    [ "$any" = 1 ]  # exit status 0 when ours runs
}

case ${1:-} in
    start) start ;;
    stop) stop_daemons ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status   (state dir \$SEPPLUG_SLURM_DIR, now $dir)" >&2; exit 2 ;;
esac
