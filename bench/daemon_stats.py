"""The real daemon, with a JSON line of statistics written for every workspace scan.

``python -m bench.daemon_stats STATS_FILE [DAEMON ARGS...]`` runs ``python -m autostop_async
DAEMON ARGS...`` in this process, unchanged, except that ``WorkspaceScanner.scan`` is wrapped:
after each scan one JSON object is appended to STATS_FILE, for example::

    {"at": 1764140000.1, "folders": 5210, "files": 100001, "seconds": 0.71,
     "stopped_early": false, "skipped": 0, "workers": 1, "ignored_dirs": 0}

The benchmark reads these lines to count the daemon's walks (``bench.run``'s monitoring run), so
it no longer parses DEBUG log lines, and the daemon gains no flag or setting for benchmarks. The
wrapper costs one small append per scan; the daemon's own code, settings and output are the same.
"""

from __future__ import annotations

import dataclasses
import json
import runpy
import sys
import time
from pathlib import Path
from typing import Any

from autostop_async.changes import ScanResult, WorkspaceScanner

__all__ = ["read_stats", "record_scans"]


def record_scans(path: Path) -> None:
    """Append a JSON line of ``ScanStats`` to ``path`` after every ``WorkspaceScanner.scan``."""
    scan = WorkspaceScanner.scan

    async def recorded(self: WorkspaceScanner, *args: Any, **kwargs: Any) -> ScanResult:
        result = await scan(self, *args, **kwargs)
        figures = dataclasses.asdict(result.stats)
        figures["folders"] = figures.pop("dirs")
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"at": time.time(), **figures}) + "\n")
        return result

    WorkspaceScanner.scan = recorded  # type: ignore[method-assign]


def read_stats(path: Path) -> list[dict[str, Any]]:
    """The scans recorded in ``path`` (none when it does not exist: the daemon never scanned)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def main() -> None:
    """Record scans to ``argv[1]``, then run the daemon with the rest of the arguments."""
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m bench.daemon_stats STATS_FILE [DAEMON ARGS...]")
    record_scans(Path(sys.argv[1]))
    sys.argv = ["autostop_async", *sys.argv[2:]]
    runpy.run_module("autostop_async", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
