"""What the daemon prints is safe to print: escaping, finite JSON."""

from __future__ import annotations

import json
import os

import pytest

from autostop_async.safe_output import escape, finite, json_text, shown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain/name.py", "plain/name.py"),
        ("é and 日本", "é and 日本"),  # valid Unicode is left alone
        ("a\nINFO deleted app x", "a\\nINFO deleted app x"),
        ("tab\there\r", "tab\\there\\r"),
        ("\x1b[2J\x00\x7f", "\\x1b[2J\\x00\\x7f"),
        ("c1\x85next", "c1\\x85next"),
        ("line\u2028sep\u2029", "line\\u2028sep\\u2029"),
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
        (os.fsdecode(b"b\xffc.py"), "b\\xffc.py"),  # a byte that was not UTF-8
        ("\ud800lone", "\\ud800lone"),
    ],
)
def test_escape_leaves_one_printable_line(raw: str, shown: str) -> None:
    assert escape(raw) == shown
    assert escape(raw).isprintable()
    escape(raw).encode("utf-8")  # strict: never fails


def test_json_text_is_strict_ascii_json() -> None:
    value = {"a": float("nan"), "b": [float("inf"), 1.5], "c": os.fsdecode(b"x\xff"), "d": "é"}
    assert finite(value)["a"] is None
    text = json_text(value)
    assert text.isascii()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": None, "b": [None, 1.5], "c": "x\\xff", "d": "é",
    }  # fmt: skip


def test_shown_escapes_and_bounds_keeping_both_ends() -> None:
    assert shown("a\x1bb") == "a\\x1bb"
    long = "/home/u/" + "x" * 10_000 + "/train.py"
    text = shown(long, 100)
    assert text.startswith("/home/u/xxx") and text.endswith("/train.py")
    assert "…[9,917 characters left out]…" in text
    assert len(text) < 140
    assert shown(text, 100) != text  # bounded again at a door, still bounded
    hostile = "\x1b]52;c;aGk=\x07" * 1000
    assert shown(hostile, 50).isprintable() and len(shown(hostile, 50)) < 300
