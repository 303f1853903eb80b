"""The documentation checked against the code, so that it cannot drift: the settings tables of
docs/settings.md equal what config.py declares (as ``--help`` shows it), every link and every
reference to docs/ resolves, every test the docs name exists, every module is on the module map,
the README stays short, and each command's ``--help`` works."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autostop_async import cli, config

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
PACKAGE = REPO / "autostop_async"
README_MAX_LINES = 250

#: Documents other work adds: a link to one of these may come before the file does. Drop each
#: name once its file is in the repository.
PENDING_DOCS: set[str] = set()

#: Where the code, tests and tooling may cite docs/ (comments, docstrings, help texts).
CITING = ["autostop_async", "tests", "bench", "docker", "lcc", "scripts", ".ci"]
CITING_FILES = ["noxfile.py", "pyproject.toml"]

#: The heading of each section of docs/settings.md, by the ``--help`` group its settings are in.
SETTINGS_SECTIONS = {None: "General", config.SIGNALS_GROUP: "Signs of use"}
SETTINGS_SECTIONS[config.CONTROLS_GROUP] = "Controls"


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def cells(row: str) -> list[str]:
    """The cells of one markdown table row."""
    return [c.strip() for c in row.strip().strip("|").split(" | ")]


def unquoted(text: str) -> str:
    return text.replace("`", "").strip()


def headings(text: str) -> list[tuple[int, str]]:
    """Each heading's level and text, outside code blocks."""
    found: list[tuple[int, str]] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"(#{1,6}) (.+)", line)):
            found.append((len(m.group(1)), m.group(2).strip()))
    return found


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes for the headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated one numbered."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for _, title in headings(text):
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    return result


# --------------------------------------------------------------------------- settings


def declared_rows() -> list[tuple[str | None, list[str], str, str, str | None]]:
    """What ``autostop-async --help`` shows of each setting, in its order: the group, the flags,
    the variable, the default as shown, and the metavar."""
    parser = config.build_parser()
    group_of: dict[str, str | None] = {}
    for group in parser._action_groups:
        for action in group._group_actions:
            named = group.title if group.title in SETTINGS_SECTIONS else None
            group_of[action.dest] = named
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        shown = re.search(r"\(default: (.*)\)$", action.help or "", re.S)
        assert shown, f"{action.option_strings}: the help does not end in its default"
        default = shown.group(1).replace("%%", "%")
        metavar = action.metavar if isinstance(action.metavar, str) else None
        rows.append(
            (
                group_of[action.dest],
                list(action.option_strings),
                config.env_name(action.dest),
                default,
                metavar,
            )
        )
    return rows


def documented_rows() -> list[tuple[str, list[str], str, str, str, str]]:
    """docs/settings.md's setting rows: the section, the flags, the variable, the default, the
    meaning, and the flag cell as written."""
    rows = []
    section = ""
    for line in (DOCS / "settings.md").read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("| `--"):
            flag_cell, env, default, meaning = cells(line)
            flags = re.findall(r"--[a-z][a-z0-9-]*", flag_cell)
            rows.append((section, flags, unquoted(env), unquoted(default), meaning, flag_cell))
    return rows


def test_settings_doc_lists_every_declared_setting_with_its_flag_variable_and_default() -> None:
    declared = declared_rows()
    documented = documented_rows()
    assert [(d[1], d[2], d[3]) for d in documented] == [(d[1], d[2], d[3]) for d in declared]
    for (section, flags, _, _, meaning, flag_cell), (group, _, _, _, metavar) in zip(
        documented, declared, strict=True
    ):
        assert section == SETTINGS_SECTIONS[group], f"{flags[0]} belongs under {group!r}"
        assert meaning, f"{flags[0]} has no meaning"
        if metavar is not None:
            assert metavar in flag_cell, f"{flags[0]}: show its value as {metavar}"


def test_every_variable_the_settings_doc_names_is_read_by_the_package() -> None:
    """A variable is a declared setting (checked like its flag, exit 2 when invalid), or one
    the package reads by name."""
    names = set(re.findall(r"`(AUTOSTOP_[A-Z_]+)`", (DOCS / "settings.md").read_text()))
    assert "AUTOSTOP_LOG_LEVEL" in names
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    declared = {config.env_name(f.name) for f, _ in config.declared_settings()}
    for name in names - declared:
        assert f'"{name}"' in source, f"{name} is documented but the package never reads it"


def test_every_flag_the_settings_doc_names_is_an_option_of_a_command() -> None:
    options: set[str] = set()
    for name in cli.COMMANDS:
        options |= set(re.findall(r"--[a-z][a-z0-9-]*", help_of(name).stdout))
    named = set(re.findall(r"--[a-z][a-z0-9-]*", (DOCS / "settings.md").read_text()))
    assert {"--idle-time", "--cancel"} <= options
    assert named - options == set()


def test_the_reader_of_the_settings_doc_sees_every_row() -> None:
    documented = documented_rows()
    idle = next(d for d in documented if d[1] == ["--idle-time"])
    assert idle[:4] == ("General", ["--idle-time"], "AUTOSTOP_IDLE_TIME", "1h")
    editor = next(d for d in documented if "--editor" in d[1])
    assert editor[1] == ["--editor", "--no-editor"]


# --------------------------------------------------------------------------- links


def links(path: Path) -> list[str]:
    """The targets of the markdown links in ``path``, outside code blocks and code spans."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(doc: Path) -> None:
    for target in links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        name = file.relative_to(REPO).as_posix() if file.is_relative_to(REPO) else str(file)
        if name in PENDING_DOCS and not file.exists():
            continue
        assert file.exists(), f"{doc.name}: link to {target}: no such file"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file.read_text()), f"{doc.name}: no heading for {target}"


def test_the_anchor_maker_follows_github() -> None:
    text = "# A\n## Code Editor's data folder, by image\n```\n# not a heading\n```\n## A\n"
    assert anchors(text) == {"a", "code-editors-data-folder-by-image", "a-1"}


# --------------------------------------------------------------------------- references


def citing_files() -> list[Path]:
    found = [REPO / f for f in CITING_FILES]
    for folder in CITING:
        for p in sorted((REPO / folder).rglob("*")):
            wanted = p.suffix in ("", ".py", ".sh", ".toml", ".js", ".json", ".md")
            # Build output and caches (gitignored: docker/.context, .cache, wheels) are copies.
            skipped = {"node_modules", ".cache", ".context", "wheels", "__pycache__"}
            if wanted and p.is_file() and not skipped & set(p.parts):
                found.append(p)
    return [p for p in found if p.exists()]


#: ``docs/reference.md, "Section name"``: a section may be named after the file, in double
#: quotes, also across a comment's line break.
CITATION = re.compile(r"docs/([\w.-]+\.md)(?:,(?:\s|#:?)*\"([^\"]+)\")?")


def test_every_reference_to_docs_in_the_code_resolves() -> None:
    cited = 0
    for path in citing_files():
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(errors="replace")
        for m in CITATION.finditer(text):
            name = f"docs/{m.group(1)}"
            where = f"{path.relative_to(REPO)}: {name}"
            if name in PENDING_DOCS and not (REPO / name).exists():
                continue
            assert (REPO / name).exists(), f"{where}: no such file"
            cited += 1
            if m.group(2):
                section = " ".join(re.sub(r"\n\s*#:?", " ", m.group(2)).split())
                titles = {t for _, t in headings((REPO / name).read_text())}
                assert section in titles, f'{where}: no section "{section}"'
    assert cited >= 5  # the reader finds the citations that are there


#: What must not appear: a file outside the repository, and the project's own history.
STALE = re.compile(r"\bREFERENCE" r"\.md|\b[Ii]ssue \d+|\bbefore the fix\b")


@pytest.mark.parametrize("kind", ["docs", "code"])
def test_no_reference_leads_outside_the_repository_or_into_its_history(kind: str) -> None:
    files = markdown_files() if kind == "docs" else citing_files()
    for path in files:
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = STALE.search(line)
            assert m is None, f"{path.relative_to(REPO)}:{n}: {m.group(0)!r}" if m else ""


TEST_NAME = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+)(?:\[([^\]`]+)\])?)?`")


def test_every_test_the_docs_name_exists() -> None:
    named = 0
    for doc in markdown_files():
        for m in TEST_NAME.finditer(doc.read_text()):
            path, function, case = m.groups()
            assert (REPO / path).exists(), f"{doc.name}: no {path}"
            source = (REPO / path).read_text()
            if function:
                assert re.search(rf"def {function}\(", source), f"{doc.name}: no {path}::{function}"
                named += 1
            if case:
                assert case in source, f"{doc.name}: no case [{case}] in {path}"
    assert named >= 40  # faults.md names its tests


# --------------------------------------------------------------------------- module map


def module_map() -> list[str]:
    """The first column of docs/development.md's module map."""
    text = (DOCS / "development.md").read_text()
    table = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([\w/.]+)` \|", table, re.M)


def test_every_module_is_on_the_module_map_and_nothing_else() -> None:
    listed = module_map()
    assert "daemon.py" in listed and "signals/base.py" in listed
    modules = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))
    folders = [entry for entry in listed if entry.endswith("/")]
    missing = [m for m in modules if m not in listed and not any(m.startswith(f) for f in folders)]
    assert missing == [], f"add a line to the module map of docs/development.md for {missing}"
    gone = [entry for entry in listed if not (PACKAGE / entry).exists()]
    assert gone == [], f"docs/development.md lists modules that do not exist: {gone}"


# --------------------------------------------------------------------------- README, --help


def test_the_readme_stays_short() -> None:
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def readme_first_command() -> list[str]:
    """The README's first command after the install: the words of its second line."""
    block = README.read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    install, command = block.split("\n", 1)
    assert install == "python3 -m venv .venv && .venv/bin/pip install ."
    return command.replace("\\\n", " ").split()


def test_the_readme_gives_the_two_commands_and_ci_runs_its_test_command() -> None:
    text = README.read_text()
    words = readme_first_command()
    assert words[:3] == [".venv/bin/python", "-m", "autostop_async"]
    assert {"--once", "--dry-run", "--json", "--watch"} <= set(words)
    test = "python3 -m pip install nox && python3 -m nox"
    assert test in text
    assert test in (REPO / ".ci" / "run").read_text()


def test_the_readmes_first_command_prints_one_line_about_the_folder(tmp_path: Path) -> None:
    """What the README promises: one JSON line, judging the folder alone (its newest change)."""
    folder = tmp_path / "checkout"
    folder.mkdir()
    (folder / "train.py").write_text("x")
    words = [w if w != '"$(mktemp' else str(tmp_path / "state") for w in readme_first_command()]
    words = [w for w in words if w != '-d)"']
    done = subprocess.run(
        [sys.executable, *words[1:]], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    (line,) = done.stdout.splitlines()
    answer = json.loads(line)
    assert answer["idle"] is False and answer["source"] == f"workspace:{folder}/train.py", answer


def program() -> list[str]:
    """``autostop-async`` as installed beside this Python, else the same entry through -m."""
    script = Path(sys.executable).with_name("autostop-async")
    return [str(script)] if script.exists() else [sys.executable, "-m", "autostop_async"]


def help_of(name: str) -> subprocess.CompletedProcess[str]:
    """``autostop-async NAME --help``, run."""
    return subprocess.run(
        [*program(), name, "--help"], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_each_command_help_works(name: str) -> None:
    done = help_of(name)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: autostop-async"), done.stdout
    assert done.stderr == ""
    if name != "run":  # a command's help is its own, not the daemon's
        assert f"autostop-async {name}" in done.stdout
        assert "--busy-cpu" not in done.stdout
