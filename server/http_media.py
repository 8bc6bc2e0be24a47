"""HTTP for media: ``POST /api/media`` (uploads) and ``GET /media/{id}`` (images and files).

The upload route streams its body into the blob store with its own limit
(``max_file_bytes``), never through ``request.read()``: the JSON routes' small body limits
do not apply to it. Downloads answer ``Range`` requests (206, 416) so an interrupted download
resumes, and are never sniffed or shown inline by a browser: ``X-Content-Type-Options:
nosniff`` always, and ``Content-Disposition: attachment`` for files. A file on this node's
disk goes out with sendfile; one in PostgreSQL is streamed chunk by chunk, only the chunks
the range needs.
"""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import quote

from aiohttp import hdrs, web

from server.errors import ProtocolError
from server.http_api import CHAT_KEY, json_response, request_user
from server.protocol import ErrorCode
from server.storage.base_v2 import UploadRecord
from server.storage.uploads import BlobStore

logger = logging.getLogger(__name__)

UPLOAD_PATH = "/api/media"
_READ_CHUNK = 256 * 1024
_CACHE = "private, max-age=31536000, immutable"


def content_disposition(name: str) -> str:
    """``attachment`` with the name per RFC 6266: an ASCII fallback and ``filename*`` UTF-8."""
    fallback = (
        "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%;' else "_" for ch in name)
        or "file"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def post_media(request: web.Request) -> web.Response:
    chat = request.app[CHAT_KEY]
    user = await request_user(request)
    upload = await chat.files.receive(
        user,
        request.query.get("name"),
        request.content_length,
        request.content.iter_chunked(_READ_CHUNK),
    )
    return json_response({"upload": upload}, status=201)


def _byte_range(request: web.Request, size: int) -> tuple[int, int] | None | web.Response:
    """(start, end exclusive) of a satisfiable Range, None for the whole body, or a 416."""
    if hdrs.RANGE not in request.headers:
        return None
    unsatisfiable = web.Response(status=416, headers={hdrs.CONTENT_RANGE: f"bytes */{size}"})
    try:
        rng = request.http_range
    except ValueError:
        return unsatisfiable
    start, stop = rng.start, rng.stop
    if start is None and stop is None:
        return None
    if start is not None and start < 0:  # a suffix: the last -start bytes
        start = max(size + start, 0)
        stop = size
    start = start or 0
    stop = size if stop is None else min(stop, size)
    if start >= size or start >= stop:
        return unsatisfiable
    return start, stop


def _bytes_response(request: web.Request, data: bytes, mime: str) -> web.Response:
    headers = {
        "Cache-Control": _CACHE,
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    span = _byte_range(request, len(data))
    if isinstance(span, web.Response):
        return span
    if span is None:
        return web.Response(body=data, content_type=mime, headers=headers)
    start, stop = span
    headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{stop - 1}/{len(data)}"
    return web.Response(status=206, body=data[start:stop], content_type=mime, headers=headers)


async def get_media(request: web.Request) -> web.StreamResponse:
    chat = request.app[CHAT_KEY]
    user = await request_user(request)
    media_id = request.match_info["id"]
    blob = await chat.storage.media(media_id) if len(media_id) <= 64 else None
    if blob is not None:
        mime, _name, data = await chat.messages.media(user, media_id)
        return _bytes_response(request, data, mime)
    upload = await chat.files.download(user, media_id)
    store: BlobStore = chat.files.store
    headers = {
        hdrs.CONTENT_TYPE: upload.mime + ("; charset=utf-8" if upload.mime == "text/plain" else ""),
        hdrs.CONTENT_DISPOSITION: content_disposition(upload.name),
        "Cache-Control": _CACHE,
        "X-Content-Type-Options": "nosniff",
    }
    path = store.local_path(upload.id)
    if path is not None:
        # FileResponse streams from disk (sendfile) and answers Range, If-Range and 416 itself
        return web.FileResponse(path, headers=headers)
    return await _stream_file(request, store, upload, headers)


async def _stream_file(
    request: web.Request, store: BlobStore, upload: UploadRecord, headers: dict[str, str]
) -> web.StreamResponse:
    """A stored file piece by piece (the whole of it, or one range): memory stays at a
    couple of chunks however large the file or slow the client."""
    etag = f'"{upload.id}"'  # a file's bytes never change
    headers = {**headers, hdrs.ETAG: etag, "Accept-Ranges": "bytes"}
    if etag in request.headers.get(hdrs.IF_NONE_MATCH, ""):
        return web.Response(status=304, headers=headers)
    if_range = request.headers.get(hdrs.IF_RANGE)
    span = _byte_range(request, upload.size) if if_range in (None, etag) else None
    if isinstance(span, web.Response):
        span.headers["X-Content-Type-Options"] = "nosniff"
        return span
    start, stop = span if span is not None else (0, upload.size)
    if span is not None:
        headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{stop - 1}/{upload.size}"
    response = web.StreamResponse(status=200 if span is None else 206, headers=headers)
    response.content_length = stop - start
    if request.method == hdrs.METH_HEAD:
        await response.prepare(request)
        await response.write_eof()
        return response
    async with contextlib.aclosing(store.stream(upload.id, start, stop)) as pieces:
        try:
            # the first piece before the headers: bytes already gone are a 404, not a cut 200
            first = await anext(pieces, b"")
        except FileNotFoundError:
            raise ProtocolError(ErrorCode.NOT_FOUND, "There is no such file.") from None
        await response.prepare(request)
        if first:
            await response.write(first)
        async for piece in pieces:  # FileNotFoundError here (erased meanwhile) cuts the body
            await response.write(piece)
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_post(UPLOAD_PATH, post_media)
    app.router.add_get("/media/{id}", get_media)
