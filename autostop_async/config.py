"""Settings: defaults, ``AUTOSTOP_*`` environment variables and command-line flags, validated.

Every flag ``--some-name`` can also be given as ``AUTOSTOP_SOME_NAME``; a flag wins over the
environment. Invalid values raise :class:`ConfigError`, whose message names the setting, so the
command line can print one line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_METADATA_FILE",
    "DEFAULT_STATE_DIR",
    "DEFAULT_WATCH",
    "EDITOR_DATA_DIR",
    "Config",
    "ConfigError",
    "build_parser",
    "format_duration",
    "load_config",
    "parse_duration",
]

EDITOR_DATA_DIR = Path("/opt/amazon/sagemaker/sagemaker-code-editor-server-data/data")
DEFAULT_WATCH: tuple[Path, ...] = (
    Path("/home/sagemaker-user"),
    EDITOR_DATA_DIR / "User" / "History",
    EDITOR_DATA_DIR / "User" / "Backups",
)
DEFAULT_METADATA_FILE = Path("/opt/ml/metadata/resource-metadata.json")
DEFAULT_STATE_DIR = Path("/var/tmp/autostop-async")
ENV_PREFIX = "AUTOSTOP_"

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the setting and says what is accepted."""


def parse_duration(text: str) -> float:
    """Parse ``3600``, ``90m``, ``2h``, ``1h30m``, ``45s`` or ``1.5h`` into seconds.

    Raises ValueError with a short reason when the text is not a duration.
    """
    s = text.strip().lower()
    if not s:
        raise ValueError("empty duration")
    try:
        return float(s)
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s):
        raise ValueError(f"{text!r} is not a duration (use seconds like 3600, or 90m, 2h, 1h30m)")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds as ``1h02m03s`` (``-`` sign for negatives, days folded into hours)."""
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}h{minutes:02d}m{secs:02d}s"


@dataclass(frozen=True)
class Config:
    """Everything the daemon needs to know, fixed for its lifetime."""

    idle_time: float = 3600.0
    watch: tuple[Path, ...] = DEFAULT_WATCH
    exclude: tuple[str, ...] = ()
    interval: float = 60.0
    once: bool = False
    dry_run: bool = False
    json: bool = False
    metadata_file: Path = DEFAULT_METADATA_FILE
    state_dir: Path = DEFAULT_STATE_DIR
    region: str | None = None
    endpoint_url: str | None = None
    log_file: Path | None = None
    concurrency: int = 4

    @property
    def state_file(self) -> Path:
        """The JSON file where the daemon keeps its clock between runs."""
        return self.state_dir / "state.json"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``python -m autostop_async`` (all defaults come from Config/env)."""
    p = argparse.ArgumentParser(
        prog="autostop-async",
        description=(
            "Delete this SageMaker Code Editor app once nothing has happened for IDLE_TIME. "
            "Every flag can also be set as AUTOSTOP_<NAME> in the environment; flags win."
        ),
    )
    # Defaults are None so that "not given" can fall back to the environment, then to Config.
    p.add_argument("--once", action="store_true", default=None, help="check once and exit")
    p.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="never call DeleteApp; say what would be done (works without a metadata file)",
    )
    p.add_argument("--json", action="store_true", default=None, help="with --once: print JSON")
    p.add_argument(
        "--idle-time", metavar="DURATION", help="idle time before deletion: 3600, 90m, 2h (1h)"
    )
    p.add_argument(
        "--watch",
        metavar="PATH",
        action="append",
        help="folder to watch (repeatable; default: the home folder and the editor's "
        "History and Backups folders)",
    )
    p.add_argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        help="glob of paths or names not to count (repeatable), e.g. '*.log', '*/.cache'",
    )
    p.add_argument("--interval", metavar="DURATION", help="how often cheap signals are polled (60)")
    p.add_argument("--metadata-file", metavar="PATH", help="the app's resource metadata JSON")
    p.add_argument("--state-dir", metavar="PATH", help="where the daemon keeps its state")
    p.add_argument("--region", metavar="REGION", help="AWS region (default: from the app ARN)")
    p.add_argument("--endpoint-url", metavar="URL", help="SageMaker endpoint (for emulators)")
    p.add_argument("--log-file", metavar="PATH", help="append log lines here instead of stderr")
    return p


def _env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _truthy(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def _duration_setting(name: str, value: str, *, minimum: float) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if seconds < minimum:
        raise ConfigError(f"{name}={value!r} must be at least {minimum:g} seconds")
    return seconds


def load_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Build a validated Config from flags (``argv``) and ``AUTOSTOP_*`` variables (``environ``)."""
    env = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)

    def pick(flag: str) -> tuple[str, object] | None:
        """The value and the name it came from: the flag if given, else the environment."""
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            return f"--{flag}", value
        name = _env_name(flag)
        if name in env:
            return name, env[name]
        return None

    kwargs: dict[str, object] = {}
    for flag in ("once", "dry-run", "json"):
        got = pick(flag)
        if got is not None:
            name, value = got
            kwargs[flag.replace("-", "_")] = (
                value if isinstance(value, bool) else _truthy(name, str(value))
            )

    if (got := pick("idle-time")) is not None:
        kwargs["idle_time"] = _duration_setting(got[0], str(got[1]), minimum=1.0)
    if (got := pick("interval")) is not None:
        kwargs["interval"] = _duration_setting(got[0], str(got[1]), minimum=0.1)

    for flag in ("watch", "exclude"):
        got = pick(flag)
        if got is None:
            continue
        name, value = got
        items = value if isinstance(value, list) else str(value).split(os.pathsep)
        items = [str(i) for i in items if str(i).strip()]
        if flag == "watch":
            if not items:
                raise ConfigError(f"{name} is empty: name at least one folder to watch")
            kwargs["watch"] = tuple(Path(i).expanduser() for i in items)
        else:
            kwargs["exclude"] = tuple(items)

    for flag in ("metadata-file", "state-dir", "log-file"):
        if (got := pick(flag)) is not None:
            if not str(got[1]).strip():
                raise ConfigError(f"{got[0]} is empty: give a path")
            kwargs[flag.replace("-", "_")] = Path(str(got[1])).expanduser()

    if (got := pick("region")) is not None and str(got[1]).strip():
        kwargs["region"] = str(got[1]).strip()
    if (got := pick("endpoint-url")) is not None and str(got[1]).strip():
        url = str(got[1]).strip()
        if not re.match(r"^https?://", url):
            raise ConfigError(f"{got[0]}={url!r} must start with http:// or https://")
        kwargs["endpoint_url"] = url

    config = Config(**kwargs)  # type: ignore[arg-type]
    if config.json and not config.once:
        raise ConfigError("--json needs --once (the daemon logs lines instead)")
    return config
