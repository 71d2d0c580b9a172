#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine without systemd: munged (as the munge user),
# then slurmctld, then slurmd, each writing a pid file that stop.sh stops it by. Needs root and
# Debian's `slurmctld slurmd slurm-client munge`. The config goes to /etc/slurm/slurm.conf (where
# sbatch, squeue and friends look), state and logs to $JEPA_SLURM_STATE (default
# /var/tmp/jepa-slurm). Returns once the node is idle; a cluster already started is left alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${JEPA_SLURM_STATE:-/var/tmp/jepa-slurm}"
conf=/etc/slurm/slurm.conf
marker="# written by .ci/slurm/start.sh"

for bin in munged slurmctld slurmd sinfo; do
  command -v "$bin" >/dev/null || {
    echo "start.sh: $bin not found; install: apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge" >&2
    exit 1
  }
done
if [ -f "$conf" ] && ! head -n1 "$conf" | grep -qF "$marker"; then
  echo "start.sh: $conf exists and was not written by this script; not overwriting it" >&2
  exit 1
fi

# A pid file whose process runs the expected binary (pids are reused, and Debian's slurmctld is
# a symlink to slurmctld-wlm, so both sides are resolved).
alive() {
  local pidfile=$1 bin=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v "$bin")")" ]
}

mkdir -p "$state/ctld" "$state/d"
node="$(slurmd -C | head -n1)"
nodename="$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$node")"
sed -e "s|@HOST@|$(hostname -s)|" -e "s|@STATE@|$state|g" -e "s|@NODE@|$node|" \
  -e "s|@NODENAME@|$nodename|" "$here/slurm.conf.in" >"$conf.tmp"
mv "$conf.tmp" "$conf"

install -d -o munge -g munge -m 0755 /run/munge
# munged runs as the munge user and writes its pid file and log where that user may.
install -d -o munge -g munge -m 0755 "$state/munge"
if ! alive "$state/munge/munged.pid" munged; then
  rm -f "$state/munge/munged.pid"
  runuser -u munge -- munged --pid-file="$state/munge/munged.pid" --log-file="$state/munge/munged.log"
  for _ in $(seq 50); do [ -s "$state/munge/munged.pid" ] && break; sleep 0.1; done
fi
alive "$state/slurmctld.pid" slurmctld || slurmctld
for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
alive "$state/slurmd.pid" slurmd || slurmd

for _ in $(seq 200); do
  case "$(sinfo -h -n "$nodename" -o %t 2>/dev/null)" in
    idle | mix | alloc) echo "slurm: node $nodename up (state in $state)"; exit 0 ;;
  esac
  sleep 0.1
done
echo "start.sh: node $nodename did not come up within 20 s; see $state/slurmctld.log and $state/slurmd.log" >&2
sinfo >&2 || true
exit 1
