"""Durations as people write them (``3600``, ``90m``, ``2h``, ``1h30m``) and as the package
shows them (``1h02m03s``): one parser, one formatter."""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> float:
    """Parse ``3600``, ``90m``, ``2h``, ``1h30m``, ``45s`` or ``1.5h`` into seconds.

    Raises ValueError with a short reason when the text is not a duration.
    """
    s = text.strip().lower()
    if not s:
        raise ValueError("empty duration")
    try:
        seconds = float(s)
    except ValueError:
        pass
    else:  # float() also reads nan, inf and 1e400 (infinite): none of them is a duration
        if not math.isfinite(seconds):
            raise ValueError(f"{text!r} is not a finite duration")
        return seconds
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s):
        raise ValueError(f"{text!r} is not a duration (use seconds like 3600, or 90m, 2h, 1h30m)")
    if not math.isfinite(total):  # 400 digits of hours
        raise ValueError(f"{text!r} is not a finite duration")
    return total


def format_duration(seconds: float, *, compact: bool = False) -> str:
    """Seconds as ``1h02m03s`` (``-`` sign for negatives, days folded into hours); ``compact``
    leaves out the parts that are zero (``1h``, ``1m30s``, ``0``), as defaults are shown in the
    help. Either form reads back with :func:`parse_duration`."""
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if compact:
        parts = ((hours, "h"), (minutes, "m"), (secs, "s"))
        return sign + ("".join(f"{n}{unit}" for n, unit in parts if n) or "0")
    return f"{sign}{hours}h{minutes:02d}m{secs:02d}s"
