"""Stand-ins the unit, integration and fault tests share: the app, its start, a clock, virtual
time, a deleter, a scripted signal, and the settings and state file of a one-shot check."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from autostop_async.activity import Activity
from autostop_async.config import Config
from autostop_async.daemon import Daemon
from autostop_async.decision import Deleter as DeleterFn
from autostop_async.errors import DeleteAppError
from autostop_async.sagemaker import AppRef, DeleteOutcome
from autostop_async.signals.base import Signal, SignalBase

APP = AppRef("d-abc", "CodeEditor", "default", space_name="s1", region="us-east-1")
#: When the app (PID 1) started in the tests that give the daemon a fixed start.
APP_STARTED = 100.0


def app_started_at(at: float | None) -> Callable[[], float | None]:
    """An ``app_start`` for ``Daemon``/``status``: the app started at ``at`` (None: unknown)."""
    return lambda: at


#: The app started at ``APP_STARTED``.
fixed_app_start = app_started_at(APP_STARTED)
#: Outside a container PID 1 is not the app: its start is not known.
no_app_start = app_started_at(None)


class Clock:
    """A wall clock that stands still until a test moves ``now``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class VirtualTime:
    """A wall clock, a monotonic clock and a sleep that moves both: a daemon's ``run()`` in
    virtual time, where an hour idle passes in milliseconds (``Daemon(**vt.daemon_kw())``)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.mono = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once (other tasks get a turn)."""
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        self.now += seconds
        self.mono += seconds
        await asyncio.sleep(0)

    def daemon_kw(self) -> dict[str, Any]:
        return {"clock": self.clock, "monotonic": self.monotonic, "sleep": self.sleep}


class Deleter:
    """Records calls (and their times, by ``clock``: monotonic unless given); answers with the
    given outcomes in turn (the last one repeats; none given: the app is deleted)."""

    def __init__(
        self, *outcomes: DeleteOutcome | DeleteAppError, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.outcomes = list(outcomes) or [DeleteOutcome.DELETED]
        self.calls = 0
        self.times: list[float] = []
        self.clock = clock

    async def __call__(self, app: AppRef) -> DeleteOutcome:
        self.calls += 1
        self.times.append(self.clock())
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, DeleteAppError):
            raise outcome
        return outcome


class FakeSignal(SignalBase):
    """A signal that answers from a list of activity times and counts the questions."""

    latest: Activity | None = None

    def __init__(self, name: str = "fake", *, cheap: bool = False) -> None:
        self.name = name
        self.cheap = cheap
        self.times: list[float] = []
        self.asked = 0

    async def newer_than(self, t: float) -> Activity | None:
        self.asked += 1
        newer = [a for a in self.times if a > t]
        return Activity(max(newer), f"{self.name}:x") if newer else None

    async def aclose(self) -> None:
        pass


def make_config(tmp_path: Path, **kw: object) -> Config:
    """A one-shot check: idle after 100 s, its state under ``tmp_path/state``."""
    settings: dict[str, object] = {
        "idle_time": 100.0,
        "interval": 1.0,
        "state_dir": tmp_path / "state",
        "once": True,
    }
    settings.update(kw)
    return Config(**settings)  # type: ignore[arg-type]


def write_state(tmp_path: Path, **fields: object) -> None:
    """A state file as a daemon of this app (started at ``APP_STARTED``) left it."""
    record: dict[str, object] = {"app_started": APP_STARTED, "started": 100.0}
    record.update(fields)
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "state" / "state.json").write_text(json.dumps(record))


def make_daemon(
    config: Config,
    signals: Sequence[Signal],
    app: AppRef | None = APP,
    deleter: DeleterFn | None = None,
    **kw: Any,
) -> Daemon:
    """A ``Daemon`` of an app that started at ``APP_STARTED`` (unless ``app_start`` is given)."""
    kw.setdefault("app_start", fixed_app_start)
    return Daemon(config, signals, app, deleter, **kw)
