"""A domain whose apps did what ``autostop-async report`` must tell, made by real daemons.

:func:`run_scenario` seeds a domain with three spaces in the fake SageMaker
(:mod:`tests.support.fake_sagemaker`) and runs the real daemon (``python -m autostop_async``,
subprocesses with idle times of seconds, their own state folders and log files) where Studio
would:

- ``kept-space`` (shared): a daemon whose app is kept by a job (``keepalive --pid`` on a running
  process); still running when its log is shipped (no ``end`` line), app ``InService``;
- ``idle-space`` (private to ``alice``): a daemon that deletes its idle app and exits; the app is
  then marked ``Deleted`` in the fake, as Studio finishes a deletion;
- ``broken-space`` (shared): the install failed, so no daemon ran: the app's log holds the lines
  ``on-start.sh`` writes then (its ``ERROR:`` line and the ``install-failed`` event), the app runs
  (``InService``) without auto-stop.

As in Studio since the built-in LCC (``admin/lcc.py``'s loader): the LCC's stream holds the
loader's line (it started ``on-start.sh`` in the background, output discarded), and what
``on-start.sh`` says goes to the app's log only. The lines are written by the scripts' own
``say`` functions, run in bash.

Each log is then shipped into moto's CloudWatch Logs on the same server, in the streams Studio
uses (:mod:`tests.support.studio_logs`), and the daemon still running is stopped (its ``end``
line stays in the file, unshipped: the report sees it running). What happened is returned, for
a test to compare the report's output with.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autostop_async.admin.lcc import loader
from autostop_async.events import parse
from autostop_async.times import utc_iso
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.studio_logs import APP_STREAM, LCC_STREAM, ship
from tests.support.waiting import wait_for

__all__ = ["BROKEN", "IDLE", "KEPT", "Scenario", "SpaceOutcome", "events_in", "run_scenario"]

KEPT, IDLE, BROKEN = "kept-space", "idle-space", "broken-space"
OWNER = "alice"
#: The idle time of the scenario's daemons: short, and long enough for a loaded machine to
#: start a daemon and take its hold before the app could be idle.
IDLE_TIME = 3
#: Bound of each wait (generous: the machine may be loaded).
WAIT = 90.0
#: The package source the failed install named.
PACKAGE = "autostop-async==0.0.0-missing"
LCC_SCRIPT = Path(__file__).resolve().parents[2] / "lcc" / "on-start.sh"
#: The LCC's functions that write its lines: ``now``, ``say`` and ``install_failed``.
_LCC_FUNCTIONS = re.compile(
    r"^(?:now|say)\(\) \{[^\n]*\}$|^(?:say|install_failed)\(\) \{\n.*?^\}$", re.M | re.S
)


def lcc_says(log: Path, output: Path | None, script: str) -> None:
    """Run ``script`` (bash) with ``on-start.sh``'s own ``say`` and ``install_failed``: each line
    goes to ``log`` (the app's log) and to ``output`` (its standard error; None: discarded, as
    the loader runs it)."""
    text = LCC_SCRIPT.read_text()
    functions = _functions(text)
    _bash(f"LOG={shlex.quote(str(log))}\n{functions}\n{script}", output)


def loader_says(log: Path, output: Path, message: str) -> None:
    """The built-in LCC's loader says ``message`` with its own ``say``: to ``log`` (the app's
    log) and its standard error, ``output`` (what Studio ships to the LCC's stream)."""
    text = loader("s3://bucket/autostop-async/wheelhouse/lcc/on-start-0.sh")
    functions = _functions(text)
    _bash(f"L={shlex.quote(str(log))}\n{functions}\nsay {shlex.quote(message)}", output)


def _functions(script: str) -> str:
    """The first definition of each of ``now``, ``say``, ``install_failed`` in ``script`` (the
    supervisor that ``on-start.sh`` writes out has a ``say`` of its own, later)."""
    first: dict[str, str] = {}
    for m in _LCC_FUNCTIONS.finditer(script):
        first.setdefault(m.group(0).split("(", 1)[0], m.group(0))
    return "\n".join(first.values())


def _bash(script: str, output: Path | None) -> None:
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(output.open("a")) if output is not None else subprocess.DEVNULL
        subprocess.run(
            ["bash", "-c", script], stderr=err, stdout=subprocess.DEVNULL, check=True, timeout=30
        )


@dataclass
class SpaceOutcome:
    """What happened in one space, as the report should tell it."""

    space: str
    owner: str | None
    app_name: str
    #: The app's status in the fake SageMaker after the scenario.
    status: str
    #: What ``report`` should say of auto-stop there: ``running`` (the kept space) or ``not
    #: running`` (the broken space: flagged; the idle space: its daemon ended with its app).
    autostop: str
    #: The daemon's log file (None: no daemon ran) and the LCC's output.
    log_file: Path | None
    lcc_log: Path
    #: When the daemon's stop line says the app was deleted (None: it was not).
    deleted_at: str | None = None
    #: The kind of what keeps the app in the daemon's last state line shipped (``job``).
    kept_by_kind: str | None = None
    #: The process whose hold keeps the app (the kept space), by its number.
    job_pid: int | None = None
    #: The event lines shipped to the app's stream, parsed.
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Scenario:
    """The domain, its spaces, and the stream names (``.format(domain=, space=)``)."""

    domain_id: str
    region: str
    endpoint_url: str
    spaces: dict[str, SpaceOutcome]
    started_at: str
    shipped_at: str
    app_stream: str = APP_STREAM
    lcc_stream: str = LCC_STREAM

    def stream(self, space: str, *, lcc: bool = False) -> str:
        """The CloudWatch Logs stream of ``space``'s app (or of its LCC's output)."""
        return (LCC_STREAM if lcc else APP_STREAM).format(domain=self.domain_id, space=space)


def events_in(log_file: Path) -> list[dict[str, Any]]:
    """The event lines of a log file, parsed by :func:`autostop_async.events.parse`."""
    if not log_file.exists():
        return []
    found = (parse(line) for line in log_file.read_text(errors="replace").splitlines())
    return [e for e in found if e is not None]


def _env(endpoint: str) -> dict[str, str]:
    """The daemon's environment: dummy keys, the fake as endpoint, only the workspace watched."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOSTOP_"))}
    return env | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_SAGEMAKER": endpoint,
        "PYTHONUNBUFFERED": "1",
        "AUTOSTOP_EDITOR": "0",
        "AUTOSTOP_TERMINALS": "0",
        "AUTOSTOP_BUSY": "0",
    }


class _Space:
    """One space's files: metadata, workspace, state folder, logs."""

    def __init__(self, root: Path, domain: str, space: str, region: str) -> None:
        self.space = space
        self.dir = root / space
        self.workspace = self.dir / "home"
        (self.workspace / "proj").mkdir(parents=True)
        (self.workspace / "proj" / "train.py").write_text("print('hi')\n")
        self.state = self.dir / "state"
        self.log = self.dir / "app_container.log"
        self.lcc_log = self.dir / "lcc.log"
        self.metadata = self.dir / "resource-metadata.json"
        arn = f"arn:aws:sagemaker:{region}:123456789012:app/{domain}/{space}/codeeditor/default"
        self.metadata.write_text(
            json.dumps(
                {
                    "AppType": "CodeEditor",
                    "DomainId": domain,
                    "SpaceName": space,
                    "UserProfileName": "",
                    "ResourceName": "default",
                    "ResourceArn": arn,
                }
            )
        )

    def lcc_says(self, *messages: str, then: str = "") -> None:
        """The LCC as Studio runs it: the loader's line (to the LCC's stream and the app's
        log), then ``on-start.sh``'s lines (the app's log only); ``then``: more of
        ``on-start.sh``'s bash (``install_failed install``)."""
        loader_says(self.log, self.lcc_log, "started its start script in the background")
        said = "".join(f"say {shlex.quote(m)}\n" for m in messages)
        lcc_says(self.log, None, said + then)

    def start_daemon(self, endpoint: str) -> subprocess.Popen[bytes]:
        self.lcc_says(
            f"installed autostop-async from {PACKAGE} in 1s",
            "daemon started under its supervisor",
        )
        argv = [
            sys.executable, "-m", "autostop_async",
            "--watch", str(self.workspace),
            "--metadata-file", str(self.metadata),
            "--state-dir", str(self.state),
            "--log-file", str(self.log),
            "--idle-time", str(IDLE_TIME),
            "--interval", "1",
        ]  # fmt: skip
        return subprocess.Popen(
            argv, env=_env(endpoint), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _last_state(log_file: Path) -> dict[str, Any] | None:
    states = [e for e in events_in(log_file) if e["event"] == "state"]
    return states[-1] if states else None


def run_scenario(
    fake: FakeSageMaker,
    logs_client: Any,
    root: Path,
    *,
    domain_id: str | None = None,
    region: str = "us-east-1",
) -> Scenario:
    """Seed the domain, run the daemons, ship their logs; what happened (see the module).

    ``root``: a temporary folder for the spaces' files. ``domain_id``: a new one by default, so
    that the streams of earlier runs in the same server never mix in.
    """
    domain = domain_id or f"d-{secrets.token_hex(5)}"
    fake.add_domain(domain, region=region)
    fake.add_user_profile(domain, OWNER)
    for name, owner in ((KEPT, None), (IDLE, OWNER), (BROKEN, None)):
        fake.add_space(domain, name, owner=owner)
        fake.add_app(domain, space_name=name, region=region)
    spaces = {name: _Space(root, domain, name, region) for name in (KEPT, IDLE, BROKEN)}
    started = utc_iso(time.time())
    procs: list[subprocess.Popen[Any]] = []
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
    try:
        kept, idle = spaces[KEPT], spaces[IDLE]
        kept_proc = kept.start_daemon(fake.endpoint_url)
        procs.append(kept_proc)
        procs.append(idle_proc := idle.start_daemon(fake.endpoint_url))
        # The failed install: the LCC says so, and no daemon starts.
        spaces[BROKEN].lcc_says(
            f"installing from {PACKAGE} with /opt/conda/bin/python into /var/tmp/autostop-async",
            f"ERROR: install from {PACKAGE} failed; the app will NOT stop by itself: "
            "ERROR: No matching distribution found for autostop-async==0.0.0-missing",
            then="install_failed install",
        )
        # A job held by its user, as soon as the daemon has its state (its settings).
        wait_for(lambda: (kept.state / "state.json").exists(), WAIT, "the kept daemon's state")
        held = subprocess.run(
            [sys.executable, "-m", "autostop_async", "keepalive", "--pid", str(job.pid),
             "--state-dir", str(kept.state)],
            env=_env(fake.endpoint_url), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if held.returncode != 0:
            raise AssertionError(f"keepalive --pid failed: {held.stdout}{held.stderr}")
        wait_for(lambda: idle_proc.poll() is not None, WAIT, "the idle daemon to delete its app")
        if idle_proc.returncode != 0:
            raise AssertionError(f"the idle daemon exited {idle_proc.returncode}")
        wait_for(
            lambda: (_last_state(kept.log) or {}).get("kept_by_kind") == "job",
            WAIT,
            "the kept daemon to say a job keeps its app",
        )
        if fake.app_status(domain, space_name=IDLE, region=region) != "Deleting":
            raise AssertionError("the idle daemon exited without deleting its app")
        fake.add_app(domain, space_name=IDLE, region=region, status="Deleted")
        shipped = utc_iso(time.time())
        outcomes = _ship_all(logs_client, domain, spaces)
        outcomes[KEPT].job_pid = job.pid
    finally:
        for proc in procs:
            _stop(proc)
        job.kill()
        job.wait()
    return Scenario(domain, region, fake.endpoint_url, outcomes, started, shipped)


def _ship_all(logs: Any, domain: str, spaces: dict[str, _Space]) -> dict[str, SpaceOutcome]:
    """Each space's logs into its streams; what each space's outcome is."""
    out: dict[str, SpaceOutcome] = {}
    for name, space in spaces.items():
        ship(space.log, logs, stream=APP_STREAM.format(domain=domain, space=name))
        ship(space.lcc_log, logs, stream=LCC_STREAM.format(domain=domain, space=name))
        found = events_in(space.log)
        stops = [e for e in found if e["event"] == "stop" and e.get("result") == "deleted"]
        states = [e for e in found if e["event"] == "state"]
        out[name] = SpaceOutcome(
            space=name,
            owner=OWNER if name == IDLE else None,
            app_name="default",
            status="Deleted" if name == IDLE else "InService",
            # The idle space's daemon ended (its app is gone): not running, and not flagged.
            autostop="running" if name == KEPT else "not running",
            log_file=None if name == BROKEN else space.log,
            lcc_log=space.lcc_log,
            deleted_at=stops[-1]["time"] if stops else None,
            kept_by_kind=states[-1].get("kept_by_kind") if states else None,
            events=found,
        )
    return out
