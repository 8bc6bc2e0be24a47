"""The Telegram-subset Markdown parser: formats found, plain text untouched, HTML literal."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.state.markdown import (
    BOLD,
    CODE,
    ITALIC,
    MENTION,
    PRE,
    QUOTE,
    Rendered,
    Span,
    plain_text,
    render,
)


def shown(r: Rendered, kind: str) -> list[str]:
    return [r.text[s.start:s.start + s.length] for s in r.of_kind(kind)]


def test_bold_with_one_or_two_stars() -> None:
    r = render("a *b* and **c d** e")
    assert r.text == "a b and c d e"
    assert shown(r, BOLD) == ["b", "c d"]


def test_italic_and_inline_code() -> None:
    r = render("_it_ then `x = *y*`")
    assert r.text == "it then x = *y*"
    assert shown(r, ITALIC) == ["it"]
    assert shown(r, CODE) == ["x = *y*"]
    assert shown(r, BOLD) == []  # markers inside code stay literal


def test_nested_italic_in_bold() -> None:
    r = render("**bold _both_**")
    assert r.text == "bold both"
    assert shown(r, BOLD) == ["bold both"]
    assert shown(r, ITALIC) == ["both"]


def test_snake_case_arithmetic_and_unclosed_markers_stay_literal() -> None:
    for text in ("snake_case_name", "2*3*4", "a * b * c", "*open", "_ x _", "``", "`",
                 "**", "__init__ stays", "price: 5*"):
        assert render(text).text == text, text
        assert not render(text).of_kind(BOLD) and not render(text).of_kind(ITALIC), text


def test_markers_inside_urls_are_literal() -> None:
    text = "see https://x.org/a_b_c/*d* and _this_"
    r = render(text)
    assert r.text == "see https://x.org/a_b_c/*d* and this"
    assert shown(r, ITALIC) == ["this"]


def test_fenced_code_block() -> None:
    r = render("before\n```python\ndef f():\n    return *x*\n```\nafter")
    assert r.text == "before\ndef f():\n    return *x*\nafter"
    assert shown(r, PRE) == ["def f():\n    return *x*"]
    assert not r.of_kind(BOLD)


def test_unclosed_fence_is_literal() -> None:
    assert render("```\nno end").text == "```\nno end"


def test_quote_lines() -> None:
    r = render("> quoted *words*\n>second\nnot quoted > here")
    assert r.text == "quoted words\nsecond\nnot quoted > here"
    assert shown(r, QUOTE) == ["quoted words", "second"]
    assert shown(r, BOLD) == ["words"]


def test_html_is_never_interpreted() -> None:
    text = "<b>not bold</b> <script>alert(1)</script> &amp; <img src=x onerror=y>"
    assert render(text).text == text
    assert render(text).spans == ()


def test_mentions_only_those_the_server_listed() -> None:
    r = render("hi @Bob and @carol, also @room. `@bob`", ("bob", "@room"))
    assert shown(r, MENTION) == ["@Bob", "@room"]
    assert render("mail me@bob.org", ("bob",)).of_kind(MENTION) == []


def test_plain_text_is_what_selection_copies() -> None:
    assert plain_text("**hi** _there_") == "hi there"


_alphabet = st.sampled_from(list("ab _*`>\n@<&:/. ") + ["https://", "```", "é", "\u05d0"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_alphabet, max_size=60).map("".join))
def test_never_raises_and_spans_stay_inside(text: str) -> None:
    r = render(text, ("a", "@room"))
    assert len(r.text) <= len(text)
    for span in r.spans:
        assert isinstance(span, Span)
        assert 0 <= span.start and span.length >= 0
        assert span.start + span.length <= len(r.text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="*_`>"), max_size=200))
def test_text_without_markers_round_trips(text: str) -> None:
    r = render(text)
    assert r.text == text
    assert r.spans == ()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300).filter(lambda t: "```" not in t))
def test_arbitrary_unicode_only_ever_loses_marker_characters(text: str) -> None:
    r = render(text)
    removed = list(text)
    for ch in r.text:
        removed.remove(ch)  # raises if the output invented a character
    assert set(removed) <= set("*_`> ")


def test_long_adversarial_input_is_bounded() -> None:
    text = "*_" * 2000 + "x" + "_*" * 2000
    r = render(text)
    assert "x" in r.text


def test_a_url_at_the_end_of_bold_or_italic_closes_it() -> None:
    assert render("**see https://x.org/a_b**").text == "see https://x.org/a_b"
    assert render("_at www.x.org/a_").text == "at www.x.org/a"
    assert render("(https://x.org/wiki/A_(b)) *ok*").text == "(https://x.org/wiki/A_(b)) ok"
