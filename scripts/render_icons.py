"""Render ``resources/icons/parley.svg`` into the PNG sizes the app and the desktop need.

Run after editing the SVG (``python scripts/render_icons.py``); the PNGs are committed so
neither the app nor the bundle has to rasterise the app icon at start-up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QGuiApplication  # noqa: E402

from desktop.resources import APP_ICON_SIZES, render_svg, resource_path  # noqa: E402


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    svg = resource_path("icons/parley.svg").read_bytes()
    for px in APP_ICON_SIZES:
        out = resource_path(f"icons/parley-{px}.png")
        if not render_svg(svg, px).save(str(out), "PNG"):
            print(f"failed to write {out}", file=sys.stderr)
            return 1
        print(f"wrote {out.relative_to(REPO_ROOT)}")
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
