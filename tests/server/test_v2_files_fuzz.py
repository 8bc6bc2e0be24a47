"""Hypothesis fuzzing of ``POST /api/media`` and of what an upload becomes when sent.

Whatever the body (random bytes, real magic numbers followed by junk, images good and
broken) and whatever the ``name`` (paths, control and bidi characters, huge), the answer
is a 201 with a sane ``upload`` or a clean error; the shown name is never a path and holds
no control or format characters; sending the upload gives an image message exactly when
the bytes are an image the server accepts, and a file message otherwise. The server stays
healthy throughout. Pure checks of the sniffer and the name cleaner ride along.
"""

from __future__ import annotations

import io
import json
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from server import filetypes
from server.protocol import ErrorCode, Event
from server.validation import MAX_FILENAME_CHARS, display_filename
from tests.server.test_fuzz_events import FUZZ_ROOM, PASSWORD, FuzzTarget

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

UPLOAD_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (5, 4), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


MAGICS = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"%PDF-",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"BZh",
    b"\xef\xbb\xbf",
    b"\x00\x00\x00\x18ftypmp42",
    b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/vnd.oasis.opendocument.text",
]

bodies = st.one_of(
    st.binary(max_size=2048),
    st.tuples(st.sampled_from(MAGICS), st.binary(max_size=512)).map(lambda t: t[0] + t[1]),
    st.text(max_size=300).map(str.encode),
    st.just(_png()),
    st.binary(min_size=1, max_size=64).map(lambda junk: _png()[:40] + junk),
)
names = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(
        ["../../x", "a/b\\c", "\u202egnp.exe", "\x00", ".", "..", "   ", "n" * 400, "Ünï cödé.txt"]
    ),
)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Any:
    t = FuzzTarget(tmp_path_factory.mktemp("fuzz-uploads"))
    try:
        yield t
    finally:
        t.close()


@pytest.fixture(scope="module")
def bearer(target: FuzzTarget) -> str:
    body = json.dumps({"username": "fuzzer", "password": PASSWORD}).encode()
    req = urllib.request.Request(
        target.server.url + "/api/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(json.load(resp)["token"])


def post(url: str, token: str, body: bytes, name: str | None) -> tuple[int, dict[str, Any]]:
    query = "" if name is None else "?" + urllib.parse.urlencode({"name": name})
    req = urllib.request.Request(
        url + "/api/media" + query,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status), json.load(resp)
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def assert_safe_name(name: str) -> None:
    assert 1 <= len(name) <= MAX_FILENAME_CHARS
    assert "/" not in name and "\\" not in name and name not in (".", "..")
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name)
    assert name == name.strip() and not name.startswith(".")


@UPLOAD_SETTINGS
@given(body=bodies, name=names)
def test_any_upload_gets_a_clean_answer_and_sends_as_what_it_is(
    target: FuzzTarget, bearer: str, body: bytes, name: str | None
) -> None:
    target.reset()
    status, answer = post(target.server.url, bearer, body, name)
    assert status == 201, answer
    upload = answer["upload"]
    assert upload["size"] == len(body)
    assert upload["mime"] == filetypes.sniff(body[:65536])
    assert_safe_name(upload["name"])
    ack = target.call(
        Event.MESSAGE_SEND,
        {"room": FUZZ_ROOM, "client_id": str(uuid.uuid4()), "file": {"upload": upload["id"]}},
    )
    assert ack["ok"] is True, ack
    message = ack["message"]
    if message["kind"] == "image":
        assert filetypes.is_image_mime(upload["mime"])
        Image.open(io.BytesIO(body)).load()  # the server only takes what Pillow decodes
        assert message["image"]["id"] == upload["id"] and message["file"] is None
    else:
        assert message["kind"] == "file" and message["file"] == upload
    # used once: a second send is not_found, and the connection carries on
    again = target.call(
        Event.MESSAGE_SEND,
        {"room": FUZZ_ROOM, "client_id": str(uuid.uuid4()), "file": {"upload": upload["id"]}},
    )
    assert again["ok"] is False and again["error"]["code"] == ErrorCode.NOT_FOUND
    target.assert_alive()


@settings(UPLOAD_SETTINGS, max_examples=40)
@given(
    query=st.dictionaries(st.sampled_from(["name", "size", "mime", "x"]), st.text(max_size=20)),
    auth=st.sampled_from(["", "Bearer", "Bearer ", "Basic abc", "Bearer nope", "bearer {t}"]),
)
def test_odd_requests_get_clean_errors(
    target: FuzzTarget, bearer: str, query: dict[str, str], auth: str
) -> None:
    url = target.server.url + "/api/media?" + urllib.parse.urlencode(query)
    req = urllib.request.Request(
        url, data=b"abc", method="POST", headers={"Authorization": auth.format(t=bearer)}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, body = int(resp.status), json.load(resp)
    except urllib.error.HTTPError as exc:
        status, body = int(exc.code), json.loads(exc.read())
    if auth == "bearer {t}":
        assert status == 201, body
        target.call(
            Event.MESSAGE_SEND,
            {
                "room": FUZZ_ROOM,
                "client_id": str(uuid.uuid4()),
                "file": {"upload": body["upload"]["id"]},
            },
        )
    else:
        assert status == 401 and body["error"]["code"] == "unauthorized", body


@settings(max_examples=300, deadline=None)
@given(head=st.binary(max_size=1024))
def test_sniff_never_fails_and_names_a_type(head: bytes) -> None:
    mime = filetypes.sniff(head)
    assert "/" in mime and mime.isascii() and " " not in mime


@settings(max_examples=300, deadline=None)
@given(raw=st.text(max_size=600))
def test_display_filename_is_always_a_plain_name(raw: str) -> None:
    assert_safe_name(display_filename(raw))


def test_sniffing_recognises_common_formats() -> None:
    docx = b"PK\x03\x04" + b"\x00" * 26 + b"[Content_Types].xml" + b"PK\x03\x04word/document.xml"
    cases = {
        _png(): "image/png",
        b"%PDF-1.4\n": "application/pdf",
        b"\x1f\x8b\x08\x00": "application/gzip",
        b"PK\x03\x04" + b"\x00" * 26 + b"readme.txt": "application/zip",
        docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/vnd.oasis.opendocument.text": (
            "application/vnd.oasis.opendocument.text"
        ),
        "plain ünïcödé text\n".encode(): "text/plain",
        "é".encode()[:1]: "text/plain",  # a character cut at the end of the sniffed bytes
        b"<svg onload=alert(1)>": "text/plain",  # never served as something that runs
        b"\x00\x01\x02\x03binary": "application/octet-stream",
        b"": "application/octet-stream",
    }
    for head, mime in cases.items():
        assert filetypes.sniff(head) == mime, head
