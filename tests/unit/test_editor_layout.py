"""Where Code Editor keeps its data, and that only History and Backups there count as activity.

The layouts are those of SageMaker Distribution images (docs/reference.md,
"Code Editor's data folder, by image"): since 2.3 the server data folder is
``~/sagemaker-code-editor-server-data``, inside the home folder, where the editor touches
``workspaceStorage/<id>/vscode.lock`` every second; before 2.3 it was under ``/opt/amazon``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autostop_async.changes import WorkspaceScanner, WorkspaceSignal
from autostop_async.signals.editor_layout import (
    EditorLayout,
    find_editor_layout,
    layout_from_cmdline,
)
from tests.support.waiting import wait_for

SDD = "sagemaker-code-editor-server-data"
#: What the editor writes by itself, measured with a real VS Code server (docs/reference.md,
#: "What a real VS Code server does").
BOOKKEEPING = [
    "data/User/workspaceStorage/1a2b/vscode.lock",
    "data/User/workspaceStorage/1a2b/state.vscdb",
    "data/User/globalStorage/state.vscdb",
    "data/User/caches/CachedConfigurations/x/y.json",
    "data/User/systemExtensionsCache.json",
    "data/logs/20261127T071500/ptyhost.log",
    "data/Machine/settings.json",
    "data/CachedProfilesData/__default__profile__/extensions.user.cache",
    "extensions/extensions.json",
]


def make_home(tmp_path: Path) -> tuple[Path, Path]:
    """A home folder laid out as on a current image, everything older than a minute."""
    home = tmp_path / "home"
    sdd = home / SDD
    for rel in [*BOOKKEEPING, "data/User/History/-1a/entries.json", "data/User/Backups/1a/f"]:
        (sdd / rel).parent.mkdir(parents=True, exist_ok=True)
        (sdd / rel).write_text("x")
    (home / "proj").mkdir()
    (home / "proj" / "train.py").write_text("x")
    time.sleep(0.02)  # ctime has jiffy resolution: what follows is strictly newer
    return home, sdd


def touch_bookkeeping(sdd: Path) -> None:
    """The editor's own writes, as an idle editor makes them (and new entries in its folders)."""
    for rel in BOOKKEEPING:
        (sdd / rel).write_text("y")
    (sdd / "data" / "User" / "settings.json.tmp").write_text("z")  # moves User's own ctime
    (sdd / "data" / "logs" / "20261127T080000").mkdir()  # a new log session
    (sdd / "extensions" / "new.ext").mkdir()


def scanner_for(
    home: Path, layout: EditorLayout | None, roots: list[Path] | None = None
) -> WorkspaceScanner:
    scanner = WorkspaceScanner(roots or [home])
    scanner.use_editor_layout(layout, add_roots=roots is None)
    return scanner


@pytest.mark.parametrize(
    ("args", "data", "ext"),
    [
        (
            [
                "node",
                "server-main.js",
                "--server-data-dir",
                "/h/sdd",
                "--extensions-dir",
                "/h/sdd/extensions",
            ],
            "/h/sdd",
            "/h/sdd/extensions",
        ),
        (["node", "--server-data-dir=/h/sdd/", "--port", "8888"], "/h/sdd", None),
        (["node", "--server-data-dir", "relative/sdd"], None, None),
        (["code-server", "--user-data-dir", "/h/data"], None, None),
    ],
)
def test_the_layout_a_command_line_names(
    args: list[str], data: str | None, ext: str | None
) -> None:
    layout = layout_from_cmdline(args, "test")
    if data is None:
        assert layout is None
    else:
        assert layout is not None
        assert layout.server_data_dir == Path(data)
        assert layout.extensions_dir == (Path(ext) if ext else None)
        assert layout.activity_dirs == (
            Path(data, "data/User/History"),
            Path(data, "data/User/Backups"),
        )


def fake_proc(tmp_path: Path, cmdlines: dict[int, list[str]]) -> Path:
    proc = tmp_path / "proc"
    for pid, args in cmdlines.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in args) + b"\0")
    (proc / "self").mkdir(parents=True, exist_ok=True)
    return proc


def test_the_running_editor_is_asked_first(tmp_path: Path) -> None:
    (tmp_path / "home" / SDD).mkdir(parents=True)  # present, but the editor says otherwise
    proc = fake_proc(
        tmp_path,
        {
            1: ["/bin/bash", "/usr/local/bin/entrypoint"],
            812: [
                "/opt/conda/bin/node",
                "/opt/amazon/sagemaker/sagemaker-code-editor/out/server-main.js",
                "--host",
                "0.0.0.0",
                "--port",
                "8888",
                "--without-connection-token",
                "--server-data-dir",
                "/srv/ce-data",
                "--extensions-dir",
                "/srv/ce-ext",
                "--user-data-dir",
                "/opt/amazon/sagemaker/sagemaker-code-editor-user-data",
            ],
        },
    )
    layout = find_editor_layout(tmp_path / "home", proc=proc, environ={})
    assert layout is not None
    assert layout.server_data_dir == Path("/srv/ce-data")
    assert layout.found_by == "the running editor (pid 812)"
    # The extensions folder lies outside the data folder: left out too.
    assert layout.left_out == (Path("/srv/ce-data"), Path("/srv/ce-ext"))


def test_without_a_running_editor_the_usual_places_are_looked_in_order(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {1: ["/bin/bash"]})
    home, recovery, legacy = tmp_path / "home", tmp_path / "recovery", tmp_path / "opt" / SDD
    env = {"SAGEMAKER_RECOVERY_MODE_HOME": str(recovery)}

    def find() -> EditorLayout | None:
        return find_editor_layout(home, proc=proc, environ=env, legacy=legacy)

    assert find() is None  # no sign of an editor at all
    legacy.mkdir(parents=True)
    assert find() == EditorLayout(legacy, None, "the pre-2.3 location")
    (recovery / SDD).mkdir(parents=True)
    assert find() == EditorLayout(recovery / SDD, None, "the recovery-mode home")
    (home / SDD).mkdir(parents=True)
    assert find() == EditorLayout(home / SDD, None, "the home folder")
    override = find_editor_layout(home, override=Path("/x"), proc=proc, environ=env)
    assert override is not None and override.server_data_dir == Path("/x")


async def test_the_editors_own_writes_in_the_home_folder_never_count(tmp_path: Path) -> None:
    home, sdd = make_home(tmp_path)
    t = time.time()
    time.sleep(0.02)
    touch_bookkeeping(sdd)
    layout = EditorLayout(sdd, sdd / "extensions", "test")
    result = await scanner_for(home, layout).scan(t)
    assert result.newer_than(t) is None, result.newest
    # Without the layout, the same walk is fooled: this is the bug of images 2.3 and later.
    fooled = await scanner_for(home, None).scan(t)
    assert fooled.newer_than(t) is not None
    assert f"/{SDD}/" in str(fooled.newest)


@pytest.mark.parametrize(
    "rel",
    [
        "data/User/History/-1a/AbCd.py",  # a save
        "data/User/Backups/1a/file/123",  # an unsaved edit (auto-save off)
        "proj/train.py",  # the workspace itself
    ],
)
async def test_saves_unsaved_edits_and_the_workspace_still_count(tmp_path: Path, rel: str) -> None:
    home, sdd = make_home(tmp_path)
    t = time.time()
    time.sleep(0.02)
    touch_bookkeeping(sdd)
    target = (home / rel) if rel.startswith("proj") else (sdd / rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("typed")
    layout = EditorLayout(sdd, None, "test")
    result = await scanner_for(home, layout).scan(t)
    found = result.newer_than(t)
    # The file, or its folder whose time moved with it (the same clock tick).
    assert found is not None and str(target).startswith(found.source.removeprefix("workspace:"))
    assert (
        f"{SDD}/data/User/" not in found.source
        or "/History" in found.source
        or ("/Backups" in found.source)
    )


async def test_an_explicit_watch_of_the_data_folder_still_leaves_out_bookkeeping(
    tmp_path: Path,
) -> None:
    home, sdd = make_home(tmp_path)
    t = time.time()
    time.sleep(0.02)
    touch_bookkeeping(sdd)
    layout = EditorLayout(sdd, None, "test")
    scanner = scanner_for(home, layout, roots=[sdd / "data" / "User", sdd / "data"])
    assert (await scanner.scan(t)).newer_than(t) is None
    # A remembered hot folder inside the bookkeeping (a state file of an older version) too.
    hint = str(sdd / "data" / "User" / "workspaceStorage" / "1a2b")
    assert (await scanner.scan(t, first=[hint])).newer_than(t) is None


async def test_the_legacy_layouts_folders_are_watch_roots_by_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    legacy = tmp_path / "opt" / SDD
    (legacy / "data" / "User" / "History").mkdir(parents=True)
    (legacy / "data" / "User" / "workspaceStorage").mkdir(parents=True)
    t = time.time()
    time.sleep(0.02)
    (legacy / "data" / "User" / "workspaceStorage" / "vscode.lock").write_text("x")
    layout = EditorLayout(legacy, None, "test")
    scanner = scanner_for(home, layout)  # default roots: the home, and History and Backups
    assert (await scanner.scan(t)).newer_than(t) is None  # Backups is absent: quietly skipped
    entry = legacy / "data" / "User" / "History" / "-1a" / "entries.json"
    entry.parent.mkdir()
    entry.write_text("{}")
    found = (await scanner.scan(t)).newer_than(t)
    assert found is not None and found.source.startswith(f"workspace:{legacy}/data/User/History")


async def test_the_signal_finds_the_layout_before_each_walk_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home, sdd = make_home(tmp_path)
    found: list[EditorLayout | None] = [None]
    seen: list[EditorLayout | None] = []
    sig = WorkspaceSignal(WorkspaceScanner([home]), find_layout=lambda: found[0])
    sig.on_layout = seen.append
    t = time.time()
    time.sleep(0.02)
    touch_bookkeeping(sdd)
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        assert await sig.newer_than(t) is not None  # no editor data known yet: counted
        found[0] = EditorLayout(sdd, None, "the running editor (pid 7)")
        assert await sig.newer_than(t) is None
        assert await sig.newer_than(t) is None
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("editor data:")]
    assert len(lines) == 2, lines  # once for "none found", once when the editor showed up
    assert "no Code Editor data folder found" in lines[0]
    assert f"{sdd} (found by the running editor (pid 7))" in lines[1]
    assert "counted: data/User/History, data/User/Backups" in lines[1]
    assert seen == [None, found[0]]
    entries = sdd / "data" / "User" / "History" / "-1a" / "entries.json"
    os.utime(entries)
    activity = await sig.newer_than(t)  # a person's edit history is counted
    assert activity is not None and f"{sdd}/data/User/History/" in activity.source


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``start_server(script, *args, env=...)``: a real process whose command line is a
    VS Code-family server's (``python …/<script> ARGS``, the script only sleeps)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        script: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        path = tmp_path / "opt" / str(len(started)) / script
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("import time\ntime.sleep(600)\n")
        proc = subprocess.Popen(
            [sys.executable, str(path), *args], env={**os.environ, **(env or {})}
        )
        started.append(proc)
        wait_for(
            lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes().count(b"\0") > len(args),
            10,
            "the server's command line",
        )
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_every_running_vscode_server_is_found(
    tmp_path: Path, start_server: Callable[..., subprocess.Popen[bytes]]
) -> None:
    home = tmp_path / "home"
    second = home / "other-editor-data"
    named = home / "cs-user-data"
    start_server("code-editor/out/server-main.js", "--server-data-dir", str(home / SDD))
    start_server("code-editor/out/server-main.js", "--server-data-dir", str(second))
    cs = start_server(
        "code-server/out/node/entry", "--user-data-dir", str(named), "--extensions-dir", "ext"
    )
    start_server("code-server/bin/code-server", env={"HOME": str(home), "XDG_DATA_HOME": ""})
    start_server("code-server/bin/code-server", "--user-data-dir", str(home))  # the home itself
    layout = find_editor_layout(home, override=home / SDD, environ={})
    assert layout is not None and layout.server_data_dir == home / SDD
    others = {o.server_data_dir: o for o in layout.others}
    default = home / ".local" / "share" / "code-server"
    for folder in (second, named, default):
        assert folder in others, layout.describe()
        assert folder in layout.left_out
    assert home not in layout.left_out  # leaving out the home would leave out everything
    # Each keeps its History and Backups counted: code-server's User is in its folder.
    assert others[named].found_by == f"the running code-server (pid {cs.pid})"
    assert named / "User" / "History" in layout.activity_dirs
    assert second / "data" / "User" / "Backups" in layout.activity_dirs
    assert str(named) in layout.describe() and str(second) in layout.describe()
    # The extensions folder named relative to the server's working folder is left out too.
    assert Path(os.getcwd()) / "ext" in others[named].left_out


async def test_other_servers_bookkeeping_never_counts_but_their_saves_do(
    tmp_path: Path, start_server: Callable[..., subprocess.Popen[bytes]]
) -> None:
    home, sdd = make_home(tmp_path)
    named = home / ".local" / "share" / "code-server"
    lock = named / "User" / "workspaceStorage" / "7e" / "vscode.lock"
    lock.parent.mkdir(parents=True)
    start_server("code-server/out/node/entry", "--user-data-dir", str(named))
    signal = WorkspaceSignal(
        scanner_for(home, None),
        # Code Editor's folder named: one running in a container here (the e2e tests) shows
        # in /proc and must not be taken for this home's.
        find_layout=lambda: find_editor_layout(home, override=sdd, environ={}),
        watch_editor_folders=True,
    )
    t = time.time()
    time.sleep(0.02)
    lock.write_text("1")  # touched every second while the server runs
    touch_bookkeeping(sdd)
    assert await signal.newer_than(t) is None
    history = named / "User" / "History" / "-3c" / "entries.json"
    history.parent.mkdir(parents=True)
    history.write_text("{}")  # a save in that editor
    found = await signal.newer_than(t)
    assert found is not None
    assert found.source.startswith(f"workspace:{named / 'User' / 'History'}"), found
    await signal.aclose()
