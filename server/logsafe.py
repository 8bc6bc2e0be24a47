"""Log lines a client cannot forge: control characters in logged values are escaped.

A polling ``sid``, an Origin, a username or an exception text can carry ``\\n``; written raw,
it would start a line of the attacker's choosing (``... ERROR admin logged in``). The
filter escapes the formatted message of every record (tracebacks are added later by the
formatter and keep their lines); :func:`safe` escapes one value at the source.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# C0 controls except tab, DEL, C1 controls, and the Unicode line/paragraph separators
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    return {"\n": "\\n", "\r": "\\r"}.get(ch, f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")


def safe(value: Any, limit: int = 200) -> str:
    """``value`` as one printable log token: control characters escaped, at most ``limit``."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _CONTROL.sub(_escape_char, text)


class EscapeControlChars(logging.Filter):
    """Escape control characters in the rendered message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the record as the handler will show it
            return True
        if _CONTROL.search(message):
            record.msg = _CONTROL.sub(_escape_char, message)
            record.args = None
        return True


def install(handlers: list[logging.Handler] | None = None) -> None:
    """Add the filter to ``handlers`` (default: the root logger's), once each."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, EscapeControlChars) for f in handler.filters):
            handler.addFilter(EscapeControlChars())
