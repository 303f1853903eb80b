"""What the event lines cost the daemon: ``python -m bench.event_lines``.

Times ``EventLog.state`` at a poll where nothing changed (what every poll pays) and a written
``state`` line (a JSON encoding and one write to a log file), on a daemon built as the unit tests
build it. Other work on the machine moves the figures; compare within one run.
"""

from __future__ import annotations

import asyncio
import tempfile
import timeit
from pathlib import Path

from autostop_async.logs import setup_logging
from tests.support.doubles import APP, Clock, Deleter, FakeSignal, make_config, make_daemon


def main() -> None:
    """Print the cost of a poll with nothing to say and of a line written."""
    tmp = Path(tempfile.mkdtemp())
    config = make_config(tmp, once=False, log_file=tmp / "app_container.log")
    setup_logging(config)
    clock = Clock(1_800_000_000.0)
    daemon = make_daemon(config, [FakeSignal()], APP, Deleter(), clock=clock)
    asyncio.run(daemon.start())
    events, idle = daemon.events, daemon.idle
    events.state(idle, clock.now)
    polls = 100_000
    quiet = timeit.timeit(lambda: events.state(idle, clock.now), number=polls) / polls

    def written() -> None:
        events._said = None  # as if what the daemon would say had changed
        events.state(idle, clock.now)

    lines = 20_000
    line = timeit.timeit(written, number=lines) / lines
    size = len((tmp / "app_container.log").read_text().splitlines()[-1])
    print(f"a poll with nothing to say: {quiet * 1e6:.1f} us")
    print(f"a state line written ({size} bytes, to a log file): {line * 1e6:.1f} us")


if __name__ == "__main__":
    main()
