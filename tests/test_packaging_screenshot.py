"""``scripts/screenshot.py`` still renders the README screenshot from the real UI.

The README promises the screenshot can be regenerated after UI changes; this runs the
script end to end (embedded server, headless users, real MainWindow, offscreen grab) into
a temporary file, so a UI refactor that breaks it fails here rather than at release time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_screenshot_script_renders_the_real_window(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "screenshot.py"), "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with Image.open(out) as shot:
        assert shot.size == (1280, 860)
        # A real window has sidebar, bubbles, thumbnails and text: many distinct colours
        # (the script quantises to a 256-colour palette to keep the PNGs in git small).
        colours = shot.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 150
