"""The Telegram subset of Markdown, parsed from plain message text into text plus spans.

``*bold*`` / ``**bold**``, ``_italic_``, ```code```, fenced code blocks and ``> quote``
lines. The result is the text to show (the markers taken out) and the ranges of it that
get a format; nothing here ever produces or interprets HTML, so ``<b>x</b>`` typed by a
user stays those seven characters. It must never raise on any input and must leave text
without markers exactly as it is (a plain message renders as itself).

Conservative by design, like Telegram: a marker only counts when it opens before a
non-space and closes after one, ``*``/``_`` only at word boundaries (``snake_case_name``
and ``2*3*4`` stay literal), an unclosed marker stays literal, and URLs are never parsed
(``https://x.org/a_b_c`` keeps its underscores). Pure Python and Qt-free: the delegate
turns the spans into QTextLayout formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

BOLD = "bold"
ITALIC = "italic"
CODE = "code"
PRE = "pre"  # a fenced code block (one span per block, newlines included)
QUOTE = "quote"  # one span per quoted line
MENTION = "mention"

# Same URL shape as desktop.ui.message_text.URL_RE: markers inside a link are literal.
_URL_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_MENTION_RE = re.compile(r"(?<![\w@])@([\w.\-]+)")
_MAX_DEPTH = 3  # bold inside italic inside bold is plenty; deeper stays literal


@dataclass(frozen=True)
class Span:
    start: int
    length: int
    kind: str


@dataclass(frozen=True)
class Rendered:
    """What to show: ``text`` (markers removed) and its formatted ``spans``."""

    text: str
    spans: tuple[Span, ...] = ()

    def of_kind(self, kind: str) -> list[Span]:
        return [s for s in self.spans if s.kind == kind]


@lru_cache(maxsize=4096)
def render(text: str, mentions: tuple[str, ...] = ()) -> Rendered:
    """Parse ``text``; ``mentions`` (the server's list, names and "@room") become pills.

    Cached: the delegate asks for every row it lays out, and selection asks again.
    """
    if not any(c in text for c in "*_`>@"):
        return Rendered(text)
    out: list[str] = []
    spans: list[Span] = []
    pos = 0  # length of the output so far
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if i > 0:
            out.append("\n")
            pos += 1
        fence_end = _fence_end(lines, i)
        if fence_end is not None:
            body = "\n".join(lines[i + 1:fence_end])
            out.append(body)
            if body:
                spans.append(Span(pos, len(body), PRE))
            pos += len(body)
            i = fence_end + 1
            continue
        quoted = line.startswith(">") and not line.startswith(">>")
        if quoted:
            line = line[2:] if line.startswith("> ") else line[1:]
        shown, inline = _inline(line, 0)
        if quoted:
            spans.append(Span(pos, len(shown), QUOTE))
        spans.extend(Span(pos + s.start, s.length, s.kind) for s in inline)
        out.append(shown)
        pos += len(shown)
        i += 1
    shown_text = "".join(out)
    if mentions:
        spans.extend(_mention_spans(shown_text, spans, mentions))
    spans.sort(key=lambda s: (s.start, -s.length))
    return Rendered(shown_text, tuple(spans))


def plain_text(text: str) -> str:
    """The text as shown (and as copied): the markers taken out."""
    return render(text).text


def _fence_end(lines: list[str], i: int) -> int | None:
    """The closing fence's line index when line ``i`` opens a fenced block, else None."""
    if not lines[i].startswith("```"):
        return None
    opener = lines[i][3:]
    if "`" in opener or " " in opener.strip():
        return None  # ```code``` on one line is inline code; an info string is one word
    for j in range(i + 1, len(lines)):
        if lines[j].rstrip() == "```":
            return j
    return None  # unclosed: literal


def _url_ends(line: str) -> dict[int, int]:
    """Where each URL starts and ends; trailing punctuation and markers are not part of
    it (``**see https://x.org**`` closes the bold), nor an unbalanced closing bracket."""
    ends = {}
    for m in _URL_RE.finditer(line):
        url = m.group(0)
        while url:
            last = url[-1]
            if last in ".,;:!?'\"*_`":
                url = url[:-1]
            elif last in ")]}" and url.count(last) > url.count({")": "(", "]": "[", "}": "{"}[last]):
                url = url[:-1]
            else:
                break
        if url:
            ends[m.start()] = m.start() + len(url)
    return ends


def _inline(line: str, depth: int) -> tuple[str, list[Span]]:
    """One line's inline markers: (shown text, spans relative to it)."""
    out: list[str] = []
    spans: list[Span] = []
    urls = _url_ends(line)
    pos = 0
    i = 0
    n = len(line)
    while i < n:
        url_end = urls.get(i)
        if url_end is not None:
            out.append(line[i:url_end])
            pos += url_end - i
            i = url_end
            continue
        c = line[i]
        if c == "`":
            j = line.find("`", i + 1)
            if j > i + 1:
                body = line[i + 1:j]
                out.append(body)
                spans.append(Span(pos, len(body), CODE))
                pos += len(body)
                i = j + 1
                continue
        elif c in "*_" and depth < _MAX_DEPTH:
            marker = "**" if line.startswith("**", i) else c
            close = _closing(line, i, marker, urls)
            if close is not None:
                inner, inner_spans = _inline(line[i + len(marker):close], depth + 1)
                kind = ITALIC if marker == "_" else BOLD
                spans.append(Span(pos, len(inner), kind))
                spans.extend(Span(pos + s.start, s.length, s.kind) for s in inner_spans)
                out.append(inner)
                pos += len(inner)
                i = close + len(marker)
                continue
        out.append(c)
        pos += 1
        i += 1
    return "".join(out), spans


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _closing(line: str, i: int, marker: str, urls: dict[int, int]) -> int | None:
    """Where ``marker`` opened at ``i`` closes on this line, or None if it does not."""
    m = len(marker)
    start = i + m
    if start >= len(line) or line[start].isspace() or line[start] == marker[0]:
        return None
    if i > 0 and (_is_word(line[i - 1]) or line[i - 1] == marker[0]):
        return None  # snake_case, 2*3, or the second star of a run
    j = start + 1
    while j < len(line):
        url_end = urls.get(j)
        if url_end is not None:
            j = url_end
            continue
        if line.startswith(marker, j) and not line[j - 1].isspace():
            after = j + m
            if after >= len(line) or (not _is_word(line[after]) and line[after] != marker[0]):
                return j
        if line[j] == "`":  # an inline code span hides markers
            k = line.find("`", j + 1)
            if k > j + 1:
                j = k + 1
                continue
        j += 1
    return None


def _mention_spans(text: str, spans: list[Span], mentions: tuple[str, ...]) -> list[Span]:
    """``@name`` pills for the names the server says this message mentions (not in code)."""
    wanted = {m.lower().lstrip("@") for m in mentions}
    code = [(s.start, s.start + s.length) for s in spans if s.kind in (CODE, PRE)]
    found = []
    for m in _MENTION_RE.finditer(text):
        name = m.group(1)
        # "@bob." ends a sentence: the name is the longest wanted prefix
        while name and name.lower() not in wanted and name[-1] in ".-":
            name = name[:-1]
        if name.lower() not in wanted:
            continue
        if any(a <= m.start() < b for a, b in code):
            continue
        found.append(Span(m.start(), len(name) + 1, MENTION))
    return found
