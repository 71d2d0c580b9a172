"""What every peer script shares: its peak memory and the timing of lib/studies/bench/measure.ts.

Imported by the peer scripts beside it (a script's own folder is on Python's path); needs neither
torch nor numpy.
"""

import resource
import statistics
import time


def peak_rss_kib():
    """This process's peak RSS: VmHWM (ru_maxrss is no good here: Linux carries the spawning
    process's high-water mark across fork + exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(work, units, windows, seconds, warmup):
    """As lib/studies/bench/measure.ts: a warm-up (none when 0), then the median (min, max) of
    timed windows, each of at least one call; `work` does `units` units per call."""

    def run_for(s):
        start, calls = time.perf_counter(), 0
        while True:
            work()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= s:
                return calls * units / elapsed

    if warmup > 0:
        run_for(warmup)
    rates = sorted(run_for(seconds) for _ in range(windows))
    return statistics.median(rates), rates[0], rates[-1]


def serve_forms(forms, bench):
    """Paired timing: `forms` maps a form's name to its step (warmed up already); prints
    'ready', then for each line 'NAME N' on stdin runs N steps of that form and prints
    {"seconds": ...}. The caller alternates these windows with windows of ours."""
    import json
    import sys

    print("ready", flush=True)
    for line in sys.stdin:
        name, steps = line.split()
        if name not in forms:
            raise SystemExit(f"{bench} has no form '{name}'")
        start = time.perf_counter()
        for _ in range(int(steps)):
            forms[name]()
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


def peer_arguments(doc, quick_help):
    """The command line every torch peer takes: --threads, --quick (what `quick_help` says),
    --serve (the paired windows of `serve_forms`). Returns the parser, for peers that add more."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument(
        "--serve",
        action="store_true",
        help="warm up, print 'ready', then for each line 'FORM N' on stdin run N steps of that "
        "form and print {\"seconds\": ...} (paired timing)",
    )
    return ap
