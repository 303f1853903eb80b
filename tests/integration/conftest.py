"""The real daemon as a subprocess against the fake SageMaker (moto's server) over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.waiting import wait_for

DOMAIN, SPACE, REGION = "d-integration1", "space-1", "us-east-1"
ARN = f"arn:aws:sagemaker:{REGION}:123456789012:app/{DOMAIN}/{SPACE}/codeeditor/default"


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeSageMaker]:
    with FakeSageMaker() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeSageMaker) -> FakeSageMaker:
    """The fake, reset, with this test's app InService."""
    fake_server.reset()
    fake_server.add_app(DOMAIN, space_name=SPACE, region=REGION)
    return fake_server


@pytest.fixture
def metadata(tmp_path: Path) -> Path:
    path = tmp_path / "resource-metadata.json"
    path.write_text(
        json.dumps(
            {
                "AppType": "CodeEditor",
                "DomainId": DOMAIN,
                "SpaceName": SPACE,
                "UserProfileName": "",
                "ResourceName": "default",
                "ResourceArn": ARN,
            }
        )
    )
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "train.py").write_text("print('hi')\n")
    return root


def aws_env(endpoint: str | None) -> dict[str, str]:
    """A clean SDK environment: dummy credentials, no profile files, the fake as endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOSTOP_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONUNBUFFERED="1",
        # The machine's own signs of use (this test run's CPU, the terminals of whoever runs
        # it, a local editor) would keep the app alive: these tests drive the workspace only.
        # tests/integration/test_controls.py turns them on against sources it controls.
        AUTOSTOP_EDITOR="0",
        AUTOSTOP_TERMINALS="0",
        AUTOSTOP_BUSY="0",
    )
    if endpoint is not None:
        env["AWS_ENDPOINT_URL_SAGEMAKER"] = endpoint
    return env


@dataclass
class Daemon:
    """A running ``python -m autostop_async`` and where its output goes."""

    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Daemons:
    """The daemons one test starts, each a subprocess with its own log; :meth:`stop_all` ends
    them (SIGTERM, then SIGKILL) in the teardown of the fixture that started them."""

    def __init__(self) -> None:
        self.started: list[Daemon] = []

    def start(
        self, argv: list[str], log: Path, env: dict[str, str], stderr: int = subprocess.STDOUT
    ) -> Daemon:
        """Start ``argv``; its stdout is a pipe, its stderr goes there too unless ``stderr``."""
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=stderr)
        daemon = Daemon(proc, log)
        self.started.append(daemon)
        return daemon

    def stop_all(self) -> None:
        for daemon in self.started:
            daemon.stop()


def file_flags(tmp_path: Path, metadata: Path, workspace: Path, log: Path) -> list[str]:
    """The flags that give a daemon this test's files: workspace, metadata, state, log."""
    return [
        "--watch", str(workspace),
        "--metadata-file", str(metadata),
        "--state-dir", str(tmp_path / "state"),
        "--log-file", str(log),
    ]  # fmt: skip


@pytest.fixture
def start_daemon(
    tmp_path: Path, fake: FakeSageMaker, metadata: Path, workspace: Path
) -> Iterator[Callable[..., Daemon]]:
    daemons = Daemons()

    def start(*args: str, endpoint_flag: bool = False) -> Daemon:
        log = tmp_path / f"daemon{len(daemons.started)}.log"
        files = file_flags(tmp_path, metadata, workspace, log)
        argv = [sys.executable, "-m", "autostop_async", *files, *args]
        if endpoint_flag:
            argv += ["--endpoint-url", fake.endpoint_url]
        env = aws_env(None if endpoint_flag else fake.endpoint_url)
        return daemons.start(argv, log, env)

    yield start
    daemons.stop_all()


def run_cli(
    *args: str, endpoint: str | None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m autostop_async`` to completion and capture what it says; ``env`` adds
    variables to (or replaces some of) the clean SDK environment."""
    return subprocess.run(
        [sys.executable, "-m", "autostop_async", *args],
        env=aws_env(endpoint) | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def check_once(
    workspace: Path, metadata: Path, state_dir: Path, *args: str, endpoint: str | None
) -> subprocess.CompletedProcess[str]:
    """One check of ``workspace`` for the app of ``metadata``, answered as JSON (``--once
    --json``), with an idle time of one second."""
    return run_cli(
        "--once", "--json", "--idle-time", "1", "--watch", str(workspace),
        "--metadata-file", str(metadata), "--state-dir", str(state_dir), *args,
        endpoint=endpoint,
    )  # fmt: skip


def app_status(fake: FakeSageMaker) -> str | None:
    return fake.app_status(DOMAIN, space_name=SPACE, region=REGION)


def wait_deleted(fake: FakeSageMaker, timeout: float, what: str) -> None:
    """Wait until the test's app is Deleting or Deleted, failing after ``timeout`` seconds with
    ``what`` in the message."""
    wait_for(lambda: app_status(fake) in ("Deleting", "Deleted"), timeout, what)


def age_tree(root: Path, seconds: float) -> None:
    """Wait until nothing under ``root`` changed in the last ``seconds`` (ctime), with a bound."""

    def newest() -> float:
        times = [p.lstat().st_ctime for p in [root, *root.rglob("*")]]
        return max(times)

    wait_for(lambda: time.time() - newest() > seconds, seconds + 10, "the workspace to age")
