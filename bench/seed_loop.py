"""The original's way of watching, scaled: a full walk every ``interval``, idle when the newest
file is older than ``idle_time``.

``python -m bench.seed_loop ROOT --idle-time 30 --interval 1`` prints ``check <epoch> <walk s>``
after each walk, and ``idle <epoch>`` when it decides the workspace is idle, then exits. (The
original ran from cron every 120 s with a 3600 s idle time; 1 s at 30 s is the same ratio.)
"""

from __future__ import annotations

import argparse
import time

from bench.walks import seed_walk


def main() -> None:
    """Walk, compare, sleep until the next interval; print and exit once idle."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root")
    parser.add_argument("--idle-time", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    started = time.time()
    while True:
        t0 = time.monotonic()
        newest, _ = seed_walk(args.root)
        now = time.time()
        print(f"check {now:.3f} {time.monotonic() - t0:.3f}", flush=True)
        if now - max(newest, started) > args.idle_time:
            print(f"idle {now:.3f}", flush=True)
            return
        time.sleep(max(0.0, args.interval - (time.monotonic() - t0)))


if __name__ == "__main__":
    main()
