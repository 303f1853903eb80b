"""What the daemon prints is safe to print: names escaped and bounded, JSON finite; never a
file's contents.

File names come from users: a name may hold a newline (and so forge a log line), terminal
control sequences, or bytes that are not UTF-8 (``os.listdir`` hands them over as lone
surrogates, which a strict UTF-8 stream refuses to write). :func:`escape` turns every such
character into a visible backslash escape, so one record stays one line and any stream can
write it. A file's contents never reach a line: a message says what is wrong with a file, not
what it holds. :func:`json_text` never writes ``NaN`` or ``Infinity``, which are not JSON.

The one rule for text that comes from users' files and processes (a file's path, a command
line, the editor's data folder, who asked for a keepalive), wherever it goes (the log,
``status``, the terminals, the notice file): :func:`shown`, escaped and at most ``limit``
characters of it (its beginning and its end), the rest counted, never shown.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["MAX_LOG_CHARS", "MAX_SHOWN", "escape", "finite", "json_text", "shown"]

#: The most characters of one piece of user text that is shown (a path is at most 4,096 bytes;
#: a command line, a name in a file can be anything).
MAX_SHOWN = 1000
#: The most characters of one log message: the bound behind every other, whatever a message
#: is made of.
MAX_LOG_CHARS = 16_000

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, the bidirectional
# overrides and isolates (they reorder what a terminal shows), and lone surrogates (bytes
# that were not UTF-8, decoded with surrogateescape).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _one(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` with every control character, line separator, bidi override and undecodable
    byte written as a backslash escape (``\\n``, ``\\x1b``, ``\\xff``, ``\\u2028``)."""
    return text if _UNSAFE.search(text) is None else _UNSAFE.sub(_one, text)


def shown(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` as it may be shown anywhere, escaped (:func:`escape`): whole up to ``limit``
    characters; longer, its first three quarters and last quarter of that, and how many
    characters were left out between (``/home/u/aaa…[9,000 characters left out]…aaa.py``):
    the end of a path or a line says most."""
    if len(text) <= limit:
        return escape(text)
    tail = limit // 4
    head, end = text[: limit - tail], text[len(text) - tail :] if tail else ""
    return f"{escape(head)}…[{len(text) - limit:,} characters left out]…{escape(end)}"


def finite(value: Any) -> Any:
    """``value`` as JSON can carry it: every float that is NaN or infinite replaced by None,
    and in strings every undecodable byte (a lone surrogate) escaped, as it is not Unicode
    (dicts, lists and tuples are walked)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if _SURROGATE.search(value) is None else _SURROGATE.sub(_one, value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def json_text(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity (they become null) and is pure ASCII."""
    return json.dumps(finite(value), allow_nan=False, ensure_ascii=True, **kwargs)
