"""Plain message text for the timeline: links found in it, direction, and its QTextLayout.

User text is only ever plain text: nothing here interprets HTML. The formats laid over it
are the Telegram Markdown subset parsed by :mod:`desktop.state.markdown` (its markers are
taken out of the shown text: bold, italic, monospace code, indented code blocks and
quotes, and mention pills, whose boxes and bars are painted behind the text) and the
link ranges found by :func:`find_links` (underline; the colour is added at paint time so a
palette change needs no relayout).

Direction is decided per paragraph from its first strong character (Unicode's rule P2),
and every line of a right-to-left paragraph is aligned to the right edge of the text
block, not only the first one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QTextCharFormat, QTextLayout, QTextOption

from desktop.state import markdown

# A URL runs to the first space, quote or angle bracket; trailing punctuation is trimmed
# after the match (see _trim_url), so "(see https://x.org/a_(b))." keeps "a_(b)".
URL_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*"
_PAIRS = {")": "(", "]": "[", "}": "{"}

LINE_SEPARATOR = "\u2028"


def _trim_url(url: str) -> str:
    """Drop trailing punctuation, and a closing bracket that has no opening partner."""
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
            url = url[:-1]
        else:
            break
    return url


def find_links(text: str) -> list[tuple[int, int, str]]:
    """(start, length, url) of every URL in ``text``; ``www.`` gets ``https://``.

    Balanced brackets stay part of the URL (Wikipedia's ``Foo_(bar)``); a bracket that
    only closes the sentence around the URL does not.
    """
    found = []
    for m in URL_RE.finditer(text):
        raw = _trim_url(m.group(0))
        if len(raw) <= len("www.") or raw.lower() in ("http://", "https://"):
            continue
        url = "https://" + raw if raw.lower().startswith("www.") else raw
        found.append((m.start(), len(raw), url))
    return found


def is_rtl(text: str) -> bool:
    """True if the first strong character of ``text`` is right-to-left (Hebrew, Arabic...)."""
    for ch in text:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            return True
        if bidi == "L":
            return False
    return False


def paragraph_spans(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, right_to_left) of each paragraph (split at newlines)."""
    spans = []
    start = 0
    for part in text.split("\n"):
        end = start + len(part)
        spans.append((start, end, is_rtl(part)))
        start = end + 1
    return spans


@dataclass
class TextBlock:
    """A laid-out message text: the layout, its size and where its last line ends.

    ``wrapped`` is False when no paragraph needed more than one line: the same block is
    then right for any width of at least ``width`` (see :class:`TextBlockCache`).
    """

    layout: QTextLayout
    width: float
    height: float
    last_line_width: float
    last_line_rtl: bool
    links: list[tuple[int, int, str]] = field(default_factory=list)
    max_width: float = 0.0
    wrapped: bool = True
    # ("pre" | "quote" | "mention" | "code", rect in layout coordinates) behind the text
    boxes: list[tuple[str, QRectF]] = field(default_factory=list)

    def fits(self, max_width: float) -> bool:
        """True if laying the text out at ``max_width`` would give this very block.

        Lines are filled greedily: at any width from the widest line up to the width the
        block was made for, every line still fits and the word that went to the next
        line still does not, so the breaks are the same (and without a break, any wider
        width is the same too).
        """
        if max_width == self.max_width:
            return True
        if self.width > max_width:
            return False
        return not self.wrapped or max_width <= self.max_width


class TextBlockCache:
    """Laid-out texts by (text, font, width), reused across widths where they fit.

    A window resize changes the width every row is laid out at; most chat messages do
    not wrap, and an unwrapped line is the same at any width it fits in, so those rows
    need no new QTextLayout. Bounded: ``limit`` texts, a few widths each.
    """

    def __init__(self, limit: int = 4000, widths: int = 3) -> None:
        self._limit = limit
        self._widths = widths
        self._blocks: dict[tuple[str, str, tuple[str, ...]], list[TextBlock]] = {}
        self._font: QFont | None = None
        self._font_key = ""

    def __call__(self, text: str, font: QFont, max_width: float,
                 mentions: tuple[str, ...] = ()) -> TextBlock:
        if font is not self._font:  # the layout passes the same QFont object every row
            self._font, self._font_key = font, font.key()
        key = (text, self._font_key, mentions)
        blocks = self._blocks.get(key)
        if blocks is not None:
            for block in blocks:
                if block.fits(max_width):
                    return block
        block = layout_text(text, font, max_width, mentions)
        if blocks is None:
            if len(self._blocks) >= self._limit:
                del self._blocks[next(iter(self._blocks))]
            blocks = self._blocks[key] = []
        blocks.append(block)
        if len(blocks) > self._widths:
            del blocks[0]
        return block

    def clear(self) -> None:
        self._blocks.clear()
        self._font = None

    def __len__(self) -> int:
        return len(self._blocks)


INDENT = 10.0  # code blocks and quotes sit this far in, beside their box or bar


def _span_formats(rendered: markdown.Rendered, font: QFont) -> list[QTextLayout.FormatRange]:
    ranges = []
    for span in rendered.spans:
        fmt = QTextCharFormat()
        if span.kind == markdown.BOLD:
            fmt.setFontWeight(QFont.Weight.Bold)
        elif span.kind == markdown.ITALIC:
            fmt.setFontItalic(True)
        elif span.kind in (markdown.CODE, markdown.PRE):
            fmt.setFontFamilies(["DejaVu Sans Mono", "monospace"])
            fmt.setFontFixedPitch(True)
        elif span.kind == markdown.MENTION:
            fmt.setFontWeight(QFont.Weight.DemiBold)
        else:
            continue
        fr = QTextLayout.FormatRange()
        fr.start, fr.length, fr.format = span.start, span.length, fmt
        ranges.append(fr)
    return ranges


def layout_text(text: str, font: QFont, max_width: float,
                mentions: tuple[str, ...] = ()) -> TextBlock:
    """Lay ``text`` out in lines of at most ``max_width``, right-aligning RTL paragraphs.

    ``text`` is the message as typed; what is laid out is its Markdown rendering
    (:func:`desktop.state.markdown.render`), so positions are in the shown text.
    """
    rendered = markdown.render(text, mentions)
    text = rendered.text
    indented = [(s.start, s.start + s.length) for s in rendered.spans
                if s.kind in (markdown.PRE, markdown.QUOTE)]
    # QTextLayout breaks lines only at U+2028; the swap keeps every index the same.
    layout = QTextLayout(text.replace("\n", LINE_SEPARATOR), font)
    spans = paragraph_spans(text)
    opt = QTextOption()
    opt.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    opt.setTextDirection(
        Qt.LayoutDirection.RightToLeft if spans and spans[0][2] else Qt.LayoutDirection.LeftToRight
    )
    # glyphs start at each line's own x: lines are placed below, per paragraph
    opt.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignAbsolute)
    layout.setTextOption(opt)
    links = find_links(text)
    ranges = _span_formats(rendered, font) if rendered.spans else []
    if links or ranges:
        for start, length, _url in links:
            fr = QTextLayout.FormatRange()
            fr.start = start
            fr.length = length
            fmt = QTextCharFormat()
            fmt.setFontUnderline(True)
            fr.format = fmt
            ranges.append(fr)
        layout.setFormats(ranges)
    layout.beginLayout()
    y = 0.0
    width = 0.0
    lines = []
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        start = line.textStart()
        indent = INDENT if any(a <= start < b or a == start == b
                               for a, b in indented) else 0.0
        line.setLineWidth(max_width - indent)
        line.setPosition(QPointF(indent, y))
        y += line.height()
        width = max(width, line.naturalTextWidth() + indent)
        lines.append(line)
    layout.endLayout()
    last_rtl = False
    for line in lines:
        rtl = _rtl_at(spans, line.textStart())
        if rtl:
            # a right-to-left line ends at the block's right edge
            line.setPosition(QPointF(width - line.naturalTextWidth(), line.y()))
        last_rtl = rtl
    last_w = (lines[-1].x() + lines[-1].naturalTextWidth()) if lines else 0.0
    wrapped = len(lines) > len(spans)
    boxes = _boxes(rendered, lines, width) if rendered.spans else []
    return TextBlock(layout, width, y, last_w, last_rtl, links, max_width, wrapped, boxes)


def _boxes(rendered: markdown.Rendered, lines: list, width: float) -> list[tuple[str, QRectF]]:
    """Rects behind code blocks (the whole block), quotes (a bar), mentions (a pill) and
    inline code (a box per line it is on)."""
    out: list[tuple[str, QRectF]] = []
    for span in rendered.spans:
        a, b = span.start, span.start + span.length
        if span.kind in (markdown.PRE, markdown.QUOTE):
            covered = [ln for ln in lines
                       if a <= ln.textStart() < b or (a == b == ln.textStart())]
            if not covered:
                continue
            top = covered[0].y()
            bottom = covered[-1].y() + covered[-1].height()
            if span.kind == markdown.PRE:
                out.append(("pre", QRectF(0, top - 1, max(width, INDENT), bottom - top + 2)))
            else:
                out.append(("quote", QRectF(1, top + 1, 3, bottom - top - 2)))
        elif span.kind in (markdown.MENTION, markdown.CODE):
            box = "mention" if span.kind == markdown.MENTION else "code"
            for ln in lines:
                ls, le = ln.textStart(), ln.textStart() + ln.textLength()
                lo, hi = max(a, ls), min(b, le)
                if lo >= hi:
                    continue
                x1, _ = ln.cursorToX(lo)
                x2, _ = ln.cursorToX(hi)
                left, right = sorted((x1, x2))
                out.append((box, QRectF(left - 2, ln.y() + 1, right - left + 4,
                                        ln.height() - 2)))
    return out


def _rtl_at(spans: list[tuple[int, int, bool]], pos: int) -> bool:
    for start, end, rtl in spans:
        if start <= pos <= end:
            return rtl
    return False


def link_at(block_layout: QTextLayout, links: list[tuple[int, int, str]], x: float,
            y: float) -> str | None:
    """The URL under (x, y) in the layout's coordinates, if any."""
    for i in range(block_layout.lineCount()):
        line = block_layout.lineAt(i)
        if line.y() <= y < line.y() + line.height() and line.x() <= x <= (
            line.x() + line.naturalTextWidth()
        ):
            cursor = line.xToCursor(x)
            for start, length, url in links:
                if start <= cursor < start + length:
                    return url
    return None
