"""Search results as plain data, and where the query matched in a message's text.

:class:`SearchResults` holds what the search panel shows for its current query: the
results so far (newest first, deduplicated by id, since pages may overlap while
messages are being written), whether older ones exist, and the panel's state. It knows
nothing of Qt; ``desktop.models.search_list`` adapts it.

:func:`match_spans` finds the words the server matched, by the rules of
shared/PROTOCOL.md section 16: a word term matches any word starting with it, a quoted
phrase those words in sequence, ignoring case and diacritics. It only finds where to
highlight; the server decides what matches. :func:`snippet` cuts a long text around its
first match. Everything is plain text: spans are character ranges, never markup. A
result shows its text as the timeline does, Markdown markers taken out
(:func:`result_text`, the same parser), so ``**release notes**`` reads "release notes"
with the match highlighted in it, and ``<b>`` typed by someone stays those characters.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from desktop.state.markdown import plain_text
from desktop.state.types import Message

Span = tuple[int, int]  # [start, end) in the text's characters


@dataclass
class _Word:
    start: int
    end: int
    folded: str
    # folded character index -> original end index (after that folded character)
    ends: list[int]


def _fold_char(ch: str) -> str:
    decomposed = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _is_word_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in "LN" or category == "Co" or category == "Mn"


def _words(text: str) -> list[_Word]:
    """Runs of letters and digits, each with its case- and accent-folded form."""
    words: list[_Word] = []
    i, n = 0, len(text)
    while i < n:
        if not _is_word_char(text[i]):
            i += 1
            continue
        start = i
        folded: list[str] = []
        ends: list[int] = []
        while i < n and _is_word_char(text[i]):
            f = _fold_char(text[i])
            folded.append(f)
            ends.extend([i + 1] * len(f))
            i += 1
        words.append(_Word(start, i, "".join(folded), ends))
    return words


def query_terms(query: str) -> list[tuple[list[str], bool]]:
    """The query's terms as (folded words, is a quoted phrase); like the server's split."""
    terms: list[tuple[list[str], bool]] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        if ch == '"':
            end = query.find('"', i + 1)
            end = n if end < 0 else end
            part, quoted, i = query[i + 1:end], True, end + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] != '"':
                j += 1
            part, quoted, i = query[i:j], False, j
        words = [w.folded for w in _words(part) if w.folded]
        if words:
            terms.append((words, quoted))
    return terms


def match_spans(text: str, query: str) -> list[Span]:
    """Where the query's terms match ``text``: sorted, merged character ranges."""
    terms = query_terms(query)
    if not terms or not text:
        return []
    words = _words(text)
    spans: list[Span] = []
    for term, quoted in terms:
        size = len(term)
        for k in range(len(words) - size + 1):
            ok = True
            for m, wanted in enumerate(term):
                got = words[k + m].folded
                last = m == size - 1
                # every word must be whole but the last one of an unquoted term, which is
                # a prefix (`e-mail` is the phrase "e mail", its last word a prefix)
                if not (got.startswith(wanted) if last and not quoted else got == wanted):
                    ok = False
                    break
            if not ok:
                continue
            last_word = words[k + size - 1]
            if quoted:
                end = last_word.end
            else:
                end = last_word.ends[len(term[-1]) - 1]
            spans.append((words[k].start, end))
    return _merge(spans)


def result_text(msg: Message) -> str:
    """A result's text: the message as plain text, its Markdown markers taken out."""
    return plain_text(msg.shown_text)


def result_row(msg: Message, query: str) -> SearchResult:
    """The row of one result: its plain text cut around the first match, highlighted."""
    text = result_text(msg)
    return SearchResult(msg, *snippet(text, match_spans(text, query)))


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def snippet(text: str, spans: list[Span], before: int = 40, fits: int = 90,
            max_chars: int = 400) -> tuple[str, list[Span]]:
    """``text`` flattened to one line and, when the first match starts past the first
    ``fits`` characters (about what two lines of the panel show), cut to begin ``before``
    characters ahead of it (with "…" where it was cut); the spans moved with it."""
    flat = " ".join(text.split("\n"))
    start = 0
    if spans and spans[0][0] > fits:
        start = spans[0][0] - before
        space = flat.find(" ", start, spans[0][0])
        if space >= 0:
            start = space + 1
    end = min(len(flat), start + max_chars)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(flat) else ""
    shift = len(prefix) - start
    moved = [(max(s + shift, len(prefix)), min(e, end) + shift) for s, e in spans
             if e > start and s < end]
    return prefix + flat[start:end] + suffix, moved


@dataclass
class SearchResult:
    """One row of the results: the message and what to paint for it."""

    message: Message
    text: str
    spans: list[Span]


@dataclass
class SearchResults:
    """What the search panel shows for its query (see the module docstring).

    ``state``: "idle" (no query), "searching", "results", "empty" (no match) or "error".
    """

    query: str = ""
    room: str | None = None
    results: list[SearchResult] = field(default_factory=list)
    has_more: bool = False
    state: str = "idle"
    error: str = ""
    listeners: list[Callable[[str, int, int], None]] = field(default_factory=list)

    def reset(self, query: str, room: str | None, state: str) -> None:
        self.query, self.room, self.state, self.error = query, room, state, ""
        self.results = []
        self.has_more = False
        self._emit("reset", 0, 0)

    def add_page(self, messages: list[Message], has_more: bool) -> None:
        """Append an older page (duplicates and ids not older than the last dropped)."""
        held = {r.message.id for r in self.results}
        new = [m for m in messages if m.id is not None and m.id not in held]
        new.sort(key=lambda m: m.id or 0, reverse=True)
        rows = [result_row(m, self.query) for m in new]
        first = len(self.results)
        self.has_more = has_more and bool(messages)
        self.state = "results" if self.results or rows else "empty"
        if rows:
            self.results.extend(rows)
            self._emit("inserted", first, len(self.results) - 1)
        self._emit("state", 0, 0)

    def fail(self, sentence: str) -> None:
        """The query failed: the sentence replaces the results; a failed later page
        keeps the results and stops paging, the sentence said above them."""
        if self.state != "results":
            self.state = "error"
        self.error = sentence
        self.has_more = False
        self._emit("state", 0, 0)

    @property
    def cursor(self) -> int | None:
        """The next page's ``before``: the oldest result held."""
        ids = [r.message.id for r in self.results if r.message.id is not None]
        return min(ids) if ids else None

    def _emit(self, kind: str, first: int, last: int) -> None:
        for listener in list(self.listeners):
            listener(kind, first, last)
