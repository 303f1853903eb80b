"""The wheelhouse's lock file: the one in the repository pins every dependency the package
declares, with hashes, for every Python the wheelhouse targets; it reads back as written; a
broken one is one clear error; and the wheelhouse's key follows the lock and the source."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from autostop_async.admin.failures import AdminError
from autostop_async.admin.lock import (
    DEFAULT_PYTHONS,
    LOCK_NAME,
    PLATFORMS,
    Pin,
    parse_lock,
    read_lock,
    render_lock,
)
from autostop_async.admin.wheelhouse import find_source, wheelhouse_key

REPO = Path(__file__).resolve().parents[2]
HASH = "a" * 64


def declared() -> dict[str, str]:
    """``name: version spec`` of pyproject.toml's [project] dependencies."""
    text = (REPO / "pyproject.toml").read_text()
    block = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    found = {}
    for item in re.findall(r'"([^"]+)"', block):
        name = re.split(r"[<>=!~ ;\[]", item, maxsplit=1)[0]
        found[name.lower().replace("_", "-")] = item
    return found


def test_the_repository_lock_pins_every_dependency_for_every_python() -> None:
    lock = read_lock(REPO / LOCK_NAME)
    assert lock.pythons == DEFAULT_PYTHONS
    assert lock.platforms == PLATFORMS
    for version in lock.pythons:
        names = {p.name for p in lock.for_python(version)}
        assert set(declared()) <= names, (version, set(declared()) - names)
        assert {"botocore", "aiohttp"} <= names  # what the declared ones need, too
    for pin in lock.pins:
        assert pin.hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in pin.hashes)
    aioboto3 = next(p for p in lock.pins if p.name == "aioboto3")
    assert declared()["aioboto3"] == f"aioboto3=={aioboto3.version}"


def test_a_lock_reads_back_as_written_markers_included() -> None:
    pins = [
        Pin("aiohttp", "3.9.0", DEFAULT_PYTHONS, (HASH, "b" * 64)),
        Pin("async-timeout", "4.0.3", ("3.10",), ("c" * 64,)),
    ]
    text = render_lock(DEFAULT_PYTHONS, PLATFORMS, pins)
    lock = parse_lock(text, "test")
    assert lock.pins == tuple(pins)
    assert [p.name for p in lock.for_python("3.11")] == ["aiohttp"]
    assert 'async-timeout==4.0.3 ; python_version == "3.10"' in lock.requirements()
    assert "python_version" not in lock.requirements("3.10")


@pytest.mark.parametrize(
    "text",
    [
        "aiohttp==3.9.0 --hash=sha256:" + HASH + "\n",  # no header
        "# pythons: 3.11\n# platforms: x\naiohttp>=3 --hash=sha256:" + HASH + "\n",  # no pin
        "# pythons: 3.11\n# platforms: x\naiohttp==3.9.0\n",  # no hash
    ],
)
def test_a_broken_lock_is_one_clear_error(text: str) -> None:
    with pytest.raises(AdminError, match="lock file here"):
        parse_lock(text, "here")


def test_a_missing_lock_names_the_command_that_writes_it(tmp_path: Path) -> None:
    with pytest.raises(AdminError, match=r"python -m autostop_async\.admin\.lock"):
        read_lock(tmp_path / LOCK_NAME)


def test_the_key_follows_the_lock_the_source_and_the_pythons(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(find_source() / "autostop_async", source / "autostop_async")
    shutil.copy(find_source() / "pyproject.toml", source / "pyproject.toml")
    lock = parse_lock(render_lock(("3.11",), PLATFORMS, [Pin("x", "1", ("3.11",), (HASH,))]), "t")
    key = wheelhouse_key(lock, source, ["3.11"])
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    assert wheelhouse_key(lock, source, ["3.11"]) == key
    (source / "autostop_async" / "__pycache__").mkdir(exist_ok=True)
    (source / "autostop_async" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert wheelhouse_key(lock, source, ["3.11"]) == key  # caches are not the source
    assert wheelhouse_key(lock, source, ["3.11", "3.12"]) != key
    newer = parse_lock(render_lock(("3.11",), PLATFORMS, [Pin("x", "2", ("3.11",), (HASH,))]), "t")
    assert wheelhouse_key(newer, source, ["3.11"]) != key
    (source / "autostop_async" / "daemon.py").write_text("# changed\n", encoding="utf-8")
    assert wheelhouse_key(lock, source, ["3.11"]) != key
