"""The client's network layer: ChatClient, Outbox, EmbeddedServer. QtCore only, no widgets.

Importing it installs the PySide6 ``emit()`` refcount workaround (see ``pyside_fix``),
since everything here emits signals for every message.
"""

from desktop.net import pyside_fix

pyside_fix.install()
