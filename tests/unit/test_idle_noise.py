"""The files the image's own services rewrite in the home folder by themselves (config's
IDLE_NOISE_FILES, docs/idle-noise.md) never count by default; everything beside them does."""

from __future__ import annotations

import time
from pathlib import Path

from autostop_async.config import IDLE_NOISE_FILES, Config, load_config
from autostop_async.signal_set import workspace_signal


def _config(tmp_path: Path, *flags: str) -> Config:
    home = tmp_path / "home"
    args = ["--home", str(home), "--state-dir", str(tmp_path / "state"), "--notice-file", ""]
    return load_config([*args, *flags], {})


async def test_the_images_own_rewrites_in_the_home_folder_do_not_count(tmp_path: Path) -> None:
    home = tmp_path / "home"
    noise = [home / rel for rel in IDLE_NOISE_FILES]
    user_file = home / ".kiro" / "settings" / "cli.json"
    for path in [*noise, user_file]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    t = time.time()
    time.sleep(0.02)  # ctime has jiffy resolution: what follows is strictly newer
    for path in noise:
        path.write_text('{"name": "sagemaker_default"}')  # the editor's start script, again
    signal = workspace_signal(_config(tmp_path))
    assert await signal.newer_than(t) is None
    await signal.aclose()

    counted = workspace_signal(_config(tmp_path, "--no-skip-idle-noise"))
    found = await counted.newer_than(t)
    assert found is not None and found.source in {f"workspace:{p}" for p in noise}
    await counted.aclose()

    user_file.write_text('{"chat.defaultAgent": "mine"}')  # a person's edit beside them
    signal = workspace_signal(_config(tmp_path))
    found = await signal.newer_than(t)
    assert found is not None and found.source == f"workspace:{user_file}"
    await signal.aclose()
