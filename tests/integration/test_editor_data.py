"""Today's images keep the editor's data in the home folder: the daemon, as a subprocess, must
leave the editor's own writes out and still see saves and unsaved edits."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.fake_sagemaker import FakeSageMaker

from .conftest import Daemon, app_status, run_cli, wait_deleted

IDLE, INTERVAL = 3.0, 0.5
#: Start-up, the first SageMaker call (~0.5 s), aioboto3's import: generous on a busy 2-core box.
MARGIN = 15.0
SDD = "sagemaker-code-editor-server-data"


@contextmanager
def every(seconds: float, action: Callable[[int], None]) -> Iterator[None]:
    """Run ``action(n)`` every ``seconds`` in a thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        n = 0
        while not stop.wait(seconds):
            action(n)
            n += 1

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def editor_noise(sdd: Path) -> Callable[[int], None]:
    """What an idle Code Editor writes by itself: the lock every second, logs, caches."""
    lock = sdd / "data" / "User" / "workspaceStorage" / "1a2b" / "vscode.lock"
    log = sdd / "data" / "logs" / "20261127T071500" / "exthost.log"
    cache = sdd / "data" / "User" / "caches" / "CachedConfigurations" / "c.json"
    ext = sdd / "extensions" / "extensions.json"
    for path in (lock, log, cache, ext):
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(n: int) -> None:
        lock.write_text(str(n))
        with log.open("a") as f:
            f.write(f"line {n}\n")
        cache.write_text(str(n))
        ext.write_text(str(n))

    return write


def editor_args(home: Path) -> tuple[str, ...]:
    """The home folder, and the editor's data folder named: a Code Editor running in a container
    on this machine (the e2e suite) shows in /proc, and must not be the one found here."""
    return ("--home", str(home), "--editor-server-data-dir", str(home / SDD))


def test_an_idle_editors_own_writes_do_not_keep_the_app(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker, workspace: Path, tmp_path: Path
) -> None:
    sdd = workspace / SDD
    with every(0.3, editor_noise(sdd)):
        started = time.time()
        daemon = start_daemon(
            "--idle-time", str(IDLE), "--interval", str(INTERVAL), *editor_args(workspace)
        )
        wait_deleted(
            fake, IDLE + INTERVAL + MARGIN, "the app to be deleted despite the editor's own writes"
        )
    assert fake.calls("DeleteApp")[-1]["time"] - started >= IDLE
    assert daemon.proc.wait(10) == 0
    text = daemon.text()
    assert f"editor data: {sdd} (found by the setting --editor-server-data-dir)" in text, text
    assert "vscode.lock" not in text and "exthost.log" not in text


def test_saves_keep_the_app_while_the_editor_writes_its_own_files(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker, workspace: Path, tmp_path: Path
) -> None:
    sdd = workspace / SDD
    history = sdd / "data" / "User" / "History" / "-7f3a"
    history.mkdir(parents=True)

    def save(n: int) -> None:  # what a save writes: an entry and the list of entries
        (history / f"e{n}.py").write_text(str(n))
        (history / "entries.json").write_text(f'{{"n": {n}}}')

    with every(0.3, editor_noise(sdd)):
        with every(1.0, save):
            daemon = start_daemon(
                "--idle-time", str(IDLE), "--interval", str(INTERVAL), *editor_args(workspace)
            )
            kept_until = time.monotonic() + 3 * IDLE
            while time.monotonic() < kept_until:  # watching with a bound: must stay alive
                assert app_status(fake) == "InService", daemon.text()
                time.sleep(0.2)
            status = run_cli("status", "--state-dir", str(tmp_path / "state"), endpoint=None)
        stopped = time.time()
        assert "active: workspace:" + str(history) in daemon.text()
        assert (
            f"editor data: {sdd} (found by the setting --editor-server-data-dir)" in status.stdout
        ), status.stdout
        wait_deleted(
            fake,
            IDLE + INTERVAL + MARGIN,
            "the app to be deleted once the saves stopped (the editor still writing)",
        )
    assert fake.calls("DeleteApp")[-1]["time"] - stopped >= IDLE - 1.2
    assert daemon.proc.wait(10) == 0


def server_process(folder: Path, name: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """A real process whose command line is a VS Code-family server's: a script called
    ``name`` under ``folder`` (as node runs ``…/code-server/out/node/entry`` or
    ``…/bin/<commit>/out/server-main.js``) that only sleeps, started with ``args``."""
    script = folder / name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!{sys.executable}\nimport time\nwhile True:\n    time.sleep(60)\n")
    script.chmod(0o755)
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def lock_touched(*folders: Path) -> Callable[[int], None]:
    """What each idle server writes by itself: ``User/workspaceStorage/<id>/vscode.lock``."""
    locks = [f / "User" / "workspaceStorage" / "9c8d" / "vscode.lock" for f in folders]
    for lock in locks:
        lock.parent.mkdir(parents=True, exist_ok=True)

    def touch(n: int) -> None:
        for lock in locks:
            lock.write_text(str(n))

    return touch


def test_every_running_vscode_servers_bookkeeping_is_left_out(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker, workspace: Path, tmp_path: Path
) -> None:
    """Code Editor (its data folder named by the setting) and three more servers a person
    started in the home folder, each touching its ``vscode.lock`` every second: code-server
    with ``--user-data-dir``, code-server with its default folder (``~/.local/share/
    code-server``), and a VS Code server with ``--server-data-dir``. The app is still deleted
    on time, and the log names each folder left out."""
    sdd = workspace / SDD
    named = workspace / "cs-data"
    default = workspace / ".local" / "share" / "code-server"
    vscode = workspace / ".vscode-server"
    install = tmp_path / "opt"
    code_server, vscode_main = install / "code-server", install / "vscode" / "out"
    home_env = {"HOME": str(workspace), "XDG_DATA_HOME": ""}
    servers = [
        server_process(code_server / "out" / "node", "entry", "--user-data-dir", str(named)),
        server_process(code_server / "bin", "code-server", env=home_env),
        server_process(vscode_main, "server-main.js", "--server-data-dir", str(vscode)),
    ]
    try:
        with (
            every(0.3, editor_noise(sdd)),
            every(1.0, lock_touched(named, default, vscode / "data")),
        ):
            started = time.time()
            daemon = start_daemon(
                "--idle-time", str(IDLE), "--interval", str(INTERVAL), *editor_args(workspace)
            )
            wait_deleted(
                fake,
                IDLE + INTERVAL + MARGIN,
                "the app to be deleted despite the other editors' own writes; log:\n"
                + daemon.text(),
            )
    finally:
        for server in servers:
            server.kill()
            server.wait()
    assert fake.calls("DeleteApp")[-1]["time"] - started >= IDLE
    assert daemon.proc.wait(10) == 0
    text = daemon.text()
    for folder in (named, default, vscode):
        assert str(folder) in text.split("editor data:", 1)[1], text
    assert "vscode.lock" not in text, text
