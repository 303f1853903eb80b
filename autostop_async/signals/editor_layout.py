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
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ACTIVITY_FOLDERS",
    "LEGACY_SERVER_DATA_DIR",
    "SERVER_DATA_NAME",
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
#: The largest command line read from ``/proc/<pid>/cmdline``.
MAX_CMDLINE_BYTES = 64 * 1024


@dataclass(frozen=True)
class EditorLayout:
    """The editor's server data folder (and extensions folder), and how it was found."""

    server_data_dir: Path
    #: ``--extensions-dir`` when the editor names one (often inside the server data folder).
    extensions_dir: Path | None
    #: For people: ``the running editor (pid 812)``, ``the setting``, ``the home folder`` ...
    found_by: str

    @property
    def user_dir(self) -> Path:
        """``<server-data-dir>/data/User``: settings, History, Backups, the editor's storage."""
        return self.server_data_dir / "data" / "User"

    @property
    def activity_dirs(self) -> tuple[Path, ...]:
        """The folders whose changes count: ``User/History`` and ``User/Backups``."""
        return tuple(self.user_dir / name for name in ACTIVITY_FOLDERS)

    @property
    def left_out(self) -> tuple[Path, ...]:
        """The folders never counted: the server data folder (but for the two above) and the
        extensions folder when it lies elsewhere."""
        out = [self.server_data_dir]
        ext = self.extensions_dir
        if ext is not None and not is_under(str(ext), str(self.server_data_dir)):
            out.append(ext)
        return tuple(out)

    def describe(self) -> str:
        """One line for the start-up log and ``status``."""
        left_out = " and ".join(str(p) for p in self.left_out)
        return (
            f"{self.server_data_dir} (found by {self.found_by}); counted: data/User/History, "
            f"data/User/Backups; left out as the editor's own bookkeeping: the rest of {left_out}"
        )


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


def _running_editor(proc: Path) -> EditorLayout | None:
    """The layout of the first process (lowest pid) started with ``--server-data-dir``."""
    try:
        pids = sorted(int(name) for name in os.listdir(proc) if name.isdigit())
    except OSError:
        return None
    for pid in pids:
        try:
            # /proc files are generated by the kernel: reading them does not block.
            with open(proc / str(pid) / "cmdline", "rb") as f:
                raw = f.read(MAX_CMDLINE_BYTES)
        except OSError:  # the process ended, or is not ours to read
            continue
        if b"--server-data-dir" not in raw:
            continue
        args = [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0") if a]
        layout = layout_from_cmdline(args, f"the running editor (pid {pid})")
        if layout is not None:
            return layout
    return None


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
    location that exists. None when there is no sign of the editor at all.

    Blocking (it lists ``/proc``, a millisecond or two): call it from a worker thread.
    """
    if override is not None:
        return EditorLayout(override, None, "the setting --editor-server-data-dir")
    running = _running_editor(proc)
    if running is not None:
        return running
    env = os.environ if environ is None else environ
    for path, where in _candidates(home, env, legacy):
        if path.is_dir():
            return EditorLayout(path, None, where)
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
