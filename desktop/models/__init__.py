"""Thin QAbstractListModel adapters over the plain stores. No widgets.

Importing it installs the PySide6 ``emit()`` refcount workaround (``desktop.net.pyside_fix``):
the models are what every view imports first.
"""

from desktop.net import pyside_fix

pyside_fix.install()
