"""File names from the server made safe to save, and what kind of file a name/mime is.

A file message's ``name`` is chosen by its sender and is for display only: it is never
used as a path as it stands. :func:`clean_filename` keeps one path part without anything
a file system or a file manager would trip over, and :func:`unique_path` never overwrites
what is already there (``report (1).pdf``). Plain Python: no Qt, no I/O beyond ``exists``.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_NAME_BYTES = 200  # well under the 255 bytes most file systems allow, for " (12)"

# Characters Windows refuses in names (and "/" and "\" everywhere): replaced by "_".
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}

ARCHIVE_EXT = {"zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "tar", "jar", "apk",
               "dmg", "iso"}
AUDIO_EXT = {"mp3", "ogg", "oga", "opus", "wav", "flac", "m4a", "aac", "wma"}
VIDEO_EXT = {"mp4", "mkv", "webm", "mov", "avi", "m4v", "wmv", "mpg", "mpeg"}
TEXT_EXT = {"txt", "md", "csv", "log", "json", "xml", "yaml", "yml", "toml", "ini", "py",
            "js", "ts", "c", "h", "cpp", "rs", "go", "java", "sh", "html", "css", "sql",
            "rst", "tex"}
IMAGE_EXT = {"png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "ico", "svg"}
_ARCHIVE_MIMES = ("zip", "gzip", "x-bzip2", "x-xz", "zstd", "x-7z-compressed",
                  "vnd.rar", "x-rar", "x-tar", "java-archive")
_MIMES_BY_EXT = {
    "pdf": "application/pdf", "zip": "application/zip", "txt": "text/plain",
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "webp": "image/webp", "mp3": "audio/mpeg", "mp4": "video/mp4", "gz": "application/gzip",
}


def clean_filename(name: str, fallback: str = "file") -> str:
    """One safe path part from a display name: no directories, controls, bidi or
    zero-width tricks, no leading dots, no reserved device names, at most
    ``MAX_NAME_BYTES`` of UTF-8 with the extension kept."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = _FORBIDDEN.sub("_", name).strip().strip(".").strip()
    if not name:
        return fallback
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if stem.split(".")[0].upper() in _RESERVED:
        stem = "_" + stem
    ext = ext[:16]
    suffix = f".{ext}" if ext else ""
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    encoded = stem.encode("utf-8")
    if len(encoded) > budget:
        stem = encoded[:budget].decode("utf-8", "ignore").rstrip() or fallback
    return f"{stem}{suffix}"


def unique_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name (1).ext``, ``name (2).ext``, ... whichever is free."""
    candidate = folder / name
    if not candidate.exists():
        return candidate
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    n = 1
    while True:
        candidate = folder / f"{stem} ({n}){suffix}"
        if not candidate.exists():
            return candidate
        n += 1


def extension(name: str) -> str:
    """The lower-case extension of a name ("" when it has none)."""
    _stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and _stem else ""


def file_kind(name: str, mime: str) -> str:
    """What the file is, for its icon: "pdf", "archive", "audio", "video", "image",
    "text" (text and code) or "file". The server's sniffed mime wins over the name."""
    mime = (mime or "").lower()
    ext = extension(name)
    if mime == "application/pdf" or (ext == "pdf" and mime in ("", "application/octet-stream")):
        return "pdf"
    if mime.startswith("audio/"):
        return "audio"
    if mime.startswith("video/"):
        return "video"
    if mime.startswith("image/"):
        return "image"
    if any(mime.endswith("/" + a) for a in _ARCHIVE_MIMES):
        return "archive"
    if mime.startswith("text/"):
        return "text"
    if mime in ("", "application/octet-stream"):
        for kind, exts in (("archive", ARCHIVE_EXT), ("audio", AUDIO_EXT),
                           ("video", VIDEO_EXT), ("text", TEXT_EXT), ("image", IMAGE_EXT)):
            if ext in exts:
                return kind
    return "file"


def guess_mime(name: str) -> str:
    """A mime for a local echo before the server has sniffed the bytes (display only)."""
    return _MIMES_BY_EXT.get(extension(name), "application/octet-stream")


def type_label(name: str, mime: str) -> str:
    """A short type word for the bubble: "PDF", "ZIP", "Audio", "File"."""
    ext = extension(name)
    if ext and len(ext) <= 5:
        return ext.upper()
    kind = file_kind(name, mime)
    return {"pdf": "PDF", "archive": "Archive", "audio": "Audio", "video": "Video",
            "image": "Image", "text": "Text"}.get(kind, "File")
