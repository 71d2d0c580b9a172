#!/usr/bin/env bash
# Stops the cluster start.sh started, by the pids it recorded: slurmd, slurmctld, then munged.
# A pid file whose process is gone or runs another program is skipped, never killed. Silent
# unless something is wrong (CI's last line stays the tests' summary).
set -uo pipefail
state="${JEPA_SLURM_STATE:-/var/tmp/jepa-slurm}"

stop() {
  local pidfile=$1 bin=$2 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  local path
  path="$(command -v "$bin" || echo "/usr/sbin/$bin")"
  if [ -n "$pid" ] && [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$path")" ]; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && echo "stop.sh: $bin (pid $pid) still running after 10 s" >&2
  fi
  rm -f "$pidfile"
}

stop "$state/slurmd.pid" slurmd
stop "$state/slurmctld.pid" slurmctld
stop "$state/munge/munged.pid" munged
