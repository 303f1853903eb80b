"""A real editor in the simulated instance: code-server in the image, Chromium on the host.

- :func:`build_editor_image` makes ``docker/Dockerfile.editor`` on top of the simulated instance:
  code-server installed from npm on the host (``docker/install-code-server.sh``, cached in
  ``docker/.cache``), the host's node 20 binary, and our heartbeat extension packed as a .vsix.
  It is rebuilt only when one of those, or the image under it, changed (a label holds the key).
- :class:`Browser` drives the editor with Debian's ``chromium`` through Playwright (Playwright's own
  browser download cannot be reached here). The browser stands for the user's laptop: it runs on
  the host and reaches the container's editor through a port published on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

from .sim import IMAGE, REPO, Engine, _log

EDITOR_IMAGE = f"{IMAGE}-editor"
CODE_SERVER_VERSION = "4.100.3"
CACHE = Path(os.environ.get("AUTOSTOP_E2E_CACHE", REPO / "docker" / ".cache"))
CODE_SERVER = CACHE / f"code-server-{CODE_SERVER_VERSION}"
EDITOR_CONTEXT = CACHE / "editor-context"
EXTENSION = REPO / "tests" / "e2e" / "editor-extension"
CHROMIUM = os.environ.get("AUTOSTOP_E2E_CHROMIUM", "/usr/bin/chromium")
NODE = Path(os.environ.get("AUTOSTOP_E2E_NODE", shutil.which("node") or "/usr/bin/node"))
#: Where the editor listens inside the container (as Code Editor: all interfaces, port 8888).
EDITOR_PORT = 8888
HEARTBEAT = "/tmp/.sagemaker-last-active-timestamp"

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension=".json" ContentType="application/json"/>'
    '<Default Extension=".js" ContentType="application/javascript"/>'
    '<Default Extension=".vsixmanifest" ContentType="text/xml"/>'
    "</Types>\n"
)


def _manifest(package: dict[str, Any]) -> str:
    """The .vsix manifest (what ``vsce package`` writes, reduced to what an install reads)."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011"
    xmlns:d="http://schemas.microsoft.com/developer/vsx-schema-design/2011">
  <Metadata>
    <Identity Language="en-US" Id="{package["name"]}" Version="{package["version"]}"
        Publisher="{package["publisher"]}"/>
    <DisplayName>{package["displayName"]}</DisplayName>
    <Description xml:space="preserve">{package["description"]}</Description>
    <Properties>
      <Property Id="Microsoft.VisualStudio.Code.Engine" Value="{package["engines"]["vscode"]}"/>
    </Properties>
  </Metadata>
  <Installation><InstallationTarget Id="Microsoft.VisualStudio.Code"/></Installation>
  <Dependencies/>
  <Assets>
    <Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json"
        Addressable="true"/>
  </Assets>
</PackageManifest>
"""


def pack_extension(dest: Path) -> Path:
    """Zip tests/e2e/editor-extension into a .vsix (no @vscode/vsce needed); fixed dates, so
    the same sources give the same bytes."""
    package = json.loads((EXTENSION / "package.json").read_text())
    dest.parent.mkdir(parents=True, exist_ok=True)
    stamp = (2020, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        entries = [
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("extension.vsixmanifest", _manifest(package)),
        ]
        entries += [
            (f"extension/{f.name}", f.read_text())
            for f in sorted(EXTENSION.iterdir())
            if f.is_file()
        ]
        for name, text in entries:
            zf.writestr(zipfile.ZipInfo(name, stamp), text)
    return dest


def ensure_code_server() -> Path:
    """code-server installed from npm into the cache (once; about 1.5 minutes)."""
    subprocess.run(
        [str(REPO / "docker" / "install-code-server.sh"), str(CODE_SERVER), CODE_SERVER_VERSION],
        check=True,
    )
    return CODE_SERVER


def _link_tree(src: Path, dest: Path) -> None:
    """Hard links of a tree (a copy where the file system refuses)."""
    try:
        shutil.copytree(src, dest, symlinks=True, copy_function=os.link)
    except OSError:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(src, dest, symlinks=True)


def stage_editor_context() -> Path:
    """The editor image's context: Dockerfile, node, code-server, heartbeat.vsix."""
    shutil.rmtree(EDITOR_CONTEXT, ignore_errors=True)
    EDITOR_CONTEXT.mkdir(parents=True)
    shutil.copy2(REPO / "docker" / "Dockerfile.editor", EDITOR_CONTEXT / "Dockerfile")
    shutil.copy2(NODE.resolve(), EDITOR_CONTEXT / "node")
    _link_tree(CODE_SERVER, EDITOR_CONTEXT / "code-server")
    pack_extension(EDITOR_CONTEXT / "heartbeat.vsix")
    return EDITOR_CONTEXT


def _key(engine: Engine) -> str:
    """What the editor image is made of: the image under it, node, code-server, our files."""
    base = engine("image", "inspect", "--format", "{{.Id}}", IMAGE).stdout.strip()
    node = NODE.resolve().stat()
    digest = hashlib.sha256()
    for part in (base, CODE_SERVER_VERSION, f"{node.st_size}:{node.st_mtime_ns}"):
        digest.update(part.encode() + b"\0")
    for f in [REPO / "docker" / "Dockerfile.editor", *sorted(EXTENSION.iterdir())]:
        digest.update(f.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def build_editor_image(engine: Engine) -> None:
    """The editor image on top of the (already built) simulated instance, when it changed."""
    if not NODE.exists():
        raise RuntimeError(f"node 20 is missing at {NODE}: code-server needs it")
    key = _key(engine)
    have = engine(
        "image",
        "inspect",
        "--format",
        '{{index .Config.Labels "autostop.e2e.key"}}',
        EDITOR_IMAGE,
        check=False,
    ).stdout.strip()
    if have == key:
        _log(f"image {EDITOR_IMAGE} is up to date")
        return
    started = time.monotonic()
    ensure_code_server()
    context = stage_editor_context()
    _log(f"building {EDITOR_IMAGE} with {engine.name}")
    engine(
        "build",
        *(engine.run_options if engine.name == "podman" else ()),
        "--build-arg",
        f"BASE={IMAGE}",
        "--label",
        f"autostop.e2e.key={key}",
        "--tag",
        EDITOR_IMAGE,
        str(context),
        timeout=900,
        env={"DOCKER_BUILDKIT": "0"},
    )
    shutil.rmtree(context, ignore_errors=True)
    _log(f"image {EDITOR_IMAGE} ready in {time.monotonic() - started:.0f}s")


# --------------------------------------------------------------------------------------------
# The browser
# --------------------------------------------------------------------------------------------


class Browser:
    """Headless Chromium (Debian's) driven by Playwright's sync API; one page: the editor."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright  # only the editor tests need it

        if not Path(CHROMIUM).exists():
            raise RuntimeError(
                f"{CHROMIUM} is missing: scripts/ensure-container-engine.sh installs chromium"
            )
        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        self.page: Any = None
        self.closed = False
        #: When the last key was pressed (epoch seconds): the user's last interaction.
        self.last_input = 0.0

    def open_editor(self, url: str, timeout: float = 90) -> None:
        """Load the workbench and wait until it shows (the extension host starts after)."""
        self.page = self.browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.goto(url, timeout=timeout * 1000)
        self.page.wait_for_selector(".monaco-workbench .part.editor", timeout=timeout * 1000)

    def open_file(self, name: str) -> None:
        """Quick Open (Ctrl+P) a file by name, then wait for its tab."""
        page = self.page
        page.locator(".monaco-workbench").click(position={"x": 700, "y": 400})
        page.keyboard.press("Control+P")
        page.wait_for_selector(".quick-input-widget input", timeout=30000)
        page.keyboard.type(name, delay=20)
        page.wait_for_selector(f'.quick-input-list [aria-label*="{name}"]', timeout=30000)
        self._press("Enter")
        page.wait_for_selector(f'.tab[data-resource-name="{name}"]', timeout=30000)
        page.wait_for_selector(".monaco-editor.focused", timeout=30000)

    def type_line(self, text: str) -> None:
        """Type into the focused editor, as a person does (key by key), and a new line."""
        self.page.keyboard.type(text, delay=30)
        self._press("Enter")

    def _press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.last_input = time.time()

    def open_terminal(self) -> None:
        """Open the integrated terminal (Ctrl+`) and wait for its prompt to take keys."""
        page = self.page
        self._press("Control+Backquote")
        page.wait_for_selector(".terminal-wrapper .xterm", timeout=30000)
        page.wait_for_selector(".xterm-helper-textarea:focus", timeout=30000)
        time.sleep(1.5)  # the shell's start; keys typed before it are kept anyway

    def run_in_terminal(self, command: str) -> None:
        """Type a command into the focused terminal and press Enter."""
        self.page.keyboard.type(command, delay=30)
        self._press("Enter")

    def close(self) -> None:
        """Close the browser (the user closes the laptop's tab); the server keeps running."""
        if self.closed:
            return
        self.closed = True
        try:
            self.browser.close()
        finally:
            self._playwright.stop()
