"""Where Code Editor keeps its data, and which part of it means that a person did something.

Code Editor's server keeps everything under its ``--server-data-dir``: the user data in
``<server-data-dir>/data`` (``User/History``, ``User/Backups``, ``User/workspaceStorage``,
``User/globalStorage``, ``User/caches``, ``logs``, ``Machine``, ``CachedProfilesData``) and, on
SageMaker Distribution images, the extensions in ``<server-data-dir>/extensions``. Images 2.3
and later (all 3.x and 4.x) start it with ``--server-data-dir
/home/sagemaker-user/sagemaker-code-editor-server-data``, inside the home folder; earlier images
used ``/opt/amazon/sagemaker/sagemaker-code-editor-server-data`` (sources: docs/reference.md,
"Code Editor's data folder, by image").

Only two folders there mean that a person did something: ``data/User/History`` (an entry on every
save) and ``data/User/Backups`` (hot-exit copies of unsaved editors). Everything else is the
editor's own bookkeeping: ``workspaceStorage/<id>/vscode.lock`` alone is touched every second for
as long as the extension host lives, up to three hours after the last browser left. So it never
counts, wherever the watch roots are.

The layout is asked of the running editor first (its command line under ``/proc``), then looked
for in the usual places. It is looked for again at each walk: the lifecycle configuration starts
the daemon before the editor.

Other VS Code-family servers may run beside it (code-server, a VS Code or OpenVSCode server a
person starts, a second Code Editor): each keeps the same bookkeeping in its own data folder, its
``vscode.lock`` touched every second. Every one found running is left out the same way, but for
its ``User/History`` and ``User/Backups``: a process named with ``--server-data-dir`` (the data
in ``<dir>/data``), a VS Code-family server's ``--user-data-dir`` (``User`` directly in it; Code
Editor's own ``--user-data-dir`` is ignored by its server and is not used), and code-server's
own data folder (``$XDG_DATA_HOME/code-server``, else ``~/.local/share/code-server``: its
default user data folder, and where it writes its ``heartbeat`` file whatever the setting).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "ACTIVITY_FOLDERS",
    "LEGACY_SERVER_DATA_DIR",
    "SERVER_DATA_NAME",
    "VSCODE_SERVER_MARKERS",
    "EditorLayout",
    "describe_layout",
    "find_editor_layout",
    "is_under",
    "layout_from_cmdline",
]

log = logging.getLogger("autostop_async")

#: The server data folder's name on SageMaker Distribution images (in the home folder since 2.3).
SERVER_DATA_NAME = "sagemaker-code-editor-server-data"
#: Where images before SageMaker Distribution 2.3 kept it.
LEGACY_SERVER_DATA_DIR = Path("/opt/amazon/sagemaker") / SERVER_DATA_NAME
#: The folders of ``<server-data-dir>/data/User`` whose changes are a person's doing.
ACTIVITY_FOLDERS = ("History", "Backups")
#: The largest command line read from ``/proc/<pid>/cmdline`` (and environment, ``environ``).
MAX_CMDLINE_BYTES = 64 * 1024
#: A process is a VS Code-family server when one of its first three arguments (the program, the
#: script node runs, the entry point) names one of these: code-server's ``code-server`` and
#: ``out/node/entry`` under it, the VS Code servers' ``server-main.js``, their install folders
#: (``~/.vscode-server/bin/…``, ``~/.openvscode-server``), Code Editor's ``sagemaker-code-editor``.
VSCODE_SERVER_MARKERS = ("code-server", "server-main.js", "vscode-server", "code-editor")


@dataclass(frozen=True)
class EditorLayout:
    """The editor's server data folder (and extensions folder), and how it was found."""

    server_data_dir: Path
    #: ``--extensions-dir`` when the editor names one (often inside the server data folder).
    extensions_dir: Path | None
    #: For people: ``the running editor (pid 812)``, ``the setting``, ``the home folder`` ...
    found_by: str
    #: The other VS Code-family servers running beside it, each left out the same way.
    others: tuple[EditorLayout, ...] = ()
    #: True when ``server_data_dir`` is a user data folder (``User`` directly in it: code-server's
    #: ``--user-data-dir``), not a server data folder (``User`` in its ``data``).
    user_data_dir: bool = False

    @property
    def user_dir(self) -> Path:
        """``<server-data-dir>/data/User``: settings, History, Backups, the editor's storage."""
        if self.user_data_dir:
            return self.server_data_dir / "User"
        return self.server_data_dir / "data" / "User"

    @property
    def activity_dirs(self) -> tuple[Path, ...]:
        """The folders whose changes count: ``User/History`` and ``User/Backups``, of this
        editor and of the others."""
        own = tuple(self.user_dir / name for name in ACTIVITY_FOLDERS)
        return own + tuple(d for other in self.others for d in other.activity_dirs)

    @property
    def left_out(self) -> tuple[Path, ...]:
        """The folders never counted: the server data folder (but for the two above) and the
        extensions folder when it lies elsewhere, of this editor and of the others."""
        out = [self.server_data_dir]
        ext = self.extensions_dir
        if ext is not None and not is_under(str(ext), str(self.server_data_dir)):
            out.append(ext)
        for other in self.others:
            out.extend(p for p in other.left_out if p not in out)
        return tuple(out)

    def describe(self) -> str:
        """One line for the start-up log and ``status``."""
        own = [self.server_data_dir]
        ext = self.extensions_dir
        if ext is not None and not is_under(str(ext), str(self.server_data_dir)):
            own.append(ext)
        left_out = " and ".join(str(p) for p in own)
        line = (
            f"{self.server_data_dir} (found by {self.found_by}); counted: data/User/History, "
            f"data/User/Backups; left out as the editor's own bookkeeping: the rest of {left_out}"
        )
        if self.others:
            line += "; other editors' bookkeeping left out too (but for User/History and " + (
                "User/Backups): "
                + ", ".join(f"{o.server_data_dir} ({o.found_by})" for o in self.others)
            )
        return line


def layout_from_cmdline(args: list[str], found_by: str) -> EditorLayout | None:
    """The layout a command line names with ``--server-data-dir`` (and ``--extensions-dir``),
    in either ``--flag value`` or ``--flag=value`` form; None when it names none."""
    values: dict[str, str] = {}
    for i, arg in enumerate(args):
        for flag in ("--server-data-dir", "--extensions-dir"):
            if arg == flag and i + 1 < len(args):
                values[flag] = args[i + 1]
            elif arg.startswith(flag + "="):
                values[flag] = arg[len(flag) + 1 :]
    data = values.get("--server-data-dir", "").strip()
    if not data or not os.path.isabs(data):
        return None
    ext = values.get("--extensions-dir", "").strip()
    return EditorLayout(
        Path(os.path.normpath(data)),
        Path(os.path.normpath(ext)) if ext and os.path.isabs(ext) else None,
        found_by,
    )


def _read_proc(path: Path) -> list[str] | None:
    """The NUL-separated strings of a ``/proc`` file (``cmdline``, ``environ``); None when
    unreadable. /proc files are generated by the kernel: reading them does not block."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CMDLINE_BYTES)
    except OSError:  # the process ended, or is not ours to read
        return None
    return [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0") if a]


def _flag(args: list[str], flag: str) -> str | None:
    """The value of ``--flag value`` or ``--flag=value`` (the last one given), or None."""
    value = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1 :]
    return value


def _absolute(value: str, cwd: Path | None) -> Path | None:
    """``value`` as an absolute path: relative to the process's working folder, if known."""
    text = value.strip()
    if not text:
        return None
    if not os.path.isabs(text):
        if cwd is None:
            return None
        text = os.path.join(cwd, text)
    return Path(os.path.normpath(text))


def is_vscode_server(args: list[str]) -> bool:
    """Whether a command line is a VS Code-family server's (see VSCODE_SERVER_MARKERS)."""
    return any(m in a for a in args[:3] for m in VSCODE_SERVER_MARKERS)


def servers_from_cmdline(
    args: list[str], found_by: str, home: Path, environ: Mapping[str, str], cwd: Path | None
) -> list[EditorLayout]:
    """The data folders of the process with command line ``args`` (empty if it names none):
    ``--server-data-dir``, else a VS Code-family server's ``--user-data-dir``, and code-server's
    own data folder (from the process's ``environ``, else ``home``)."""
    ext_text = _flag(args, "--extensions-dir")
    ext = _absolute(ext_text, cwd) if ext_text else None
    server_data = _flag(args, "--server-data-dir")
    if server_data is not None:
        path = _absolute(server_data, cwd)
        return [] if path is None else [EditorLayout(path, ext, found_by)]
    if not is_vscode_server(args):
        return []
    found: list[EditorLayout] = []
    user_data = _flag(args, "--user-data-dir")
    path = _absolute(user_data, cwd) if user_data is not None else None
    if path is not None:
        found.append(EditorLayout(path, ext, found_by, user_data_dir=True))
    if any("code-server" in a for a in args[:3]):
        xdg = environ.get("XDG_DATA_HOME", "").strip()
        user_home = environ.get("HOME", "").strip() or str(home)
        base = Path(xdg) if os.path.isabs(xdg) else Path(user_home) / ".local" / "share"
        default = Path(os.path.normpath(base / "code-server"))
        if path is None or not is_under(str(default), str(path)):
            found.append(EditorLayout(default, None, found_by, user_data_dir=True))
    return found


def _running_servers(proc: Path, home: Path) -> list[EditorLayout]:
    """The data folders of every VS Code-family server running, lowest pid first, each once."""
    try:
        pids = sorted(int(name) for name in os.listdir(proc) if name.isdigit())
    except OSError:
        return []
    found: list[EditorLayout] = []
    seen: set[Path] = set()
    for pid in pids:
        args = _read_proc(proc / str(pid) / "cmdline")
        if not args or not (_flag(args, "--server-data-dir") or is_vscode_server(args)):
            continue
        environ: dict[str, str] = {}
        for item in _read_proc(proc / str(pid) / "environ") or []:
            key, _, value = item.partition("=")
            environ[key] = value
        try:
            cwd: Path | None = Path(os.readlink(proc / str(pid) / "cwd"))
        except OSError:
            cwd = None
        name = _server_name(args, pid)
        for layout in servers_from_cmdline(args, name, home, environ, cwd):
            # A data folder that holds the home folder (``--user-data-dir ~``) is not left out:
            # that would leave out everything a person does.
            if is_under(str(home), str(layout.server_data_dir)):
                continue
            if layout.server_data_dir not in seen:
                seen.add(layout.server_data_dir)
                found.append(layout)
    return found


def _server_name(args: list[str], pid: int) -> str:
    """``the running editor (pid 812)`` (started with ``--server-data-dir``), ``the running
    code-server (pid 812)`` or ``a running VS Code server (pid 812)``."""
    if _flag(args, "--server-data-dir") is not None:
        return f"the running editor (pid {pid})"
    if any("code-server" in a for a in args[:3]):
        return f"the running code-server (pid {pid})"
    return f"a running VS Code server (pid {pid})"


def _with_others(primary: EditorLayout, servers: list[EditorLayout]) -> EditorLayout:
    """``primary`` with the servers whose data lies elsewhere as its ``others``."""
    root = str(primary.server_data_dir)
    others = tuple(s for s in servers if not is_under(str(s.server_data_dir), root))
    return replace(primary, others=others) if others else primary


def _candidates(home: Path, environ: Mapping[str, str], legacy: Path) -> Iterable[tuple[Path, str]]:
    yield home / SERVER_DATA_NAME, "the home folder"
    recovery = environ.get("SAGEMAKER_RECOVERY_MODE_HOME", "").strip()
    if recovery:
        yield Path(recovery) / SERVER_DATA_NAME, "the recovery-mode home"
    yield legacy, "the pre-2.3 location"


def find_editor_layout(
    home: Path,
    *,
    override: Path | None = None,
    environ: Mapping[str, str] | None = None,
    proc: Path = Path("/proc"),
    legacy: Path = LEGACY_SERVER_DATA_DIR,
) -> EditorLayout | None:
    """Where the editor keeps its data: the setting, else the running editor's command line,
    else the first of ``~/sagemaker-code-editor-server-data``,
    ``$SAGEMAKER_RECOVERY_MODE_HOME/sagemaker-code-editor-server-data`` and the pre-2.3
    location that exists, else the first other VS Code-family server running; with every other
    VS Code-family server running as its ``others``. None when there is no sign of any editor.

    Blocking (it lists ``/proc``, a millisecond or two): call it from a worker thread.
    """
    servers = _running_servers(proc, home)
    if override is not None:
        return _with_others(
            EditorLayout(override, None, "the setting --editor-server-data-dir"), servers
        )
    # Code Editor: the first process started with --server-data-dir.
    running = next((s for s in servers if not s.user_data_dir), None)
    if running is not None:
        return _with_others(running, [s for s in servers if s is not running])
    env = os.environ if environ is None else environ
    for path, where in _candidates(home, env, legacy):
        if path.is_dir():
            return _with_others(EditorLayout(path, None, where), servers)
    if servers:
        return _with_others(servers[0], servers[1:])
    return None


def describe_layout(layout: EditorLayout | None) -> str:
    """The editor's layout in a line: what counts and what is left out."""
    if layout is None:
        return (
            "no Code Editor data folder found (no running editor names one, and none of the "
            "usual places exists); nothing is left out as the editor's bookkeeping"
        )
    return layout.describe()


def is_under(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or lies under it (both normalised strings)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
