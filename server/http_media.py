"""HTTP for media: ``POST /api/media`` (uploads) and ``GET /media/{id}`` (images and files).

The upload route streams its body to disk with its own limit (``max_file_bytes``), never
through ``request.read()``: the JSON routes' small body limits do not apply to it. Downloads
answer ``Range`` requests (206, 416) so an interrupted download resumes, and are never
sniffed or shown inline by a browser: ``X-Content-Type-Options: nosniff`` always, and
``Content-Disposition: attachment`` for files.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import hdrs, web

from server.http_api import CHAT_KEY, json_response, request_user

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
    path, upload = await chat.files.download(user, media_id)
    # FileResponse streams from disk (sendfile) and answers Range, If-Range and 416 itself
    return web.FileResponse(
        path,
        headers={
            hdrs.CONTENT_TYPE: upload.mime
            + ("; charset=utf-8" if upload.mime == "text/plain" else ""),
            hdrs.CONTENT_DISPOSITION: content_disposition(upload.name),
            "Cache-Control": _CACHE,
            "X-Content-Type-Options": "nosniff",
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post(UPLOAD_PATH, post_media)
    app.router.add_get("/media/{id}", get_media)
