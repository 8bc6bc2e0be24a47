"""Human-readable numbers for the UI (plain Python, no Qt): one place, one wording."""

from __future__ import annotations

_UNITS = ("KB", "MB", "GB", "TB")


def human_size(n: int) -> str:
    """A byte count as people read it: "512 B", "14 KB", "2.9 MB", "120 MB" (1 KB = 1024 B).

    One decimal below ten units, none above; never a raw byte count for anything
    bigger than a kilobyte.
    """
    if n < 1024:
        return f"{max(0, n)} B"
    value = float(n)
    unit = ""
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    if value < 10:
        text = f"{value:.1f}"
        if text == "10.0":
            return f"10 {unit}"
        return f"{text} {unit}"
    return f"{value:.0f} {unit}"
