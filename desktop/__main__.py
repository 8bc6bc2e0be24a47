"""``python -m desktop``: the same as the ``parley`` command."""

from __future__ import annotations

from desktop.app import run

if __name__ == "__main__":
    run()
