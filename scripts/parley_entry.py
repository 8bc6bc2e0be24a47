"""PyInstaller entry script for the frozen ``Parley`` executable (see ``build.spec``).

It only hands over to ``desktop.app.run()``, the same function the ``parley`` console
script calls, so the frozen app and the pip-installed one start identically.
"""

from __future__ import annotations

import multiprocessing

from desktop.app import run

if __name__ == "__main__":
    # A frozen app that spawns processes must let the children bypass the GUI start-up.
    multiprocessing.freeze_support()
    run()
