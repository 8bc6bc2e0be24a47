# ruff: noqa: F811  (pytest fixtures imported from ui_helpers are injected by name)
"""Files in the desktop app against a real in-process v2 server (protocol section 17):
any file dropped or attached, uploaded over HTTP with progress and cancel, received by
another client, downloaded to disk (resuming with Range), limits refused with a
sentence, and a delete dropping what the client kept of the file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl

from desktop.net.client import ChatClient
from desktop.net.files import FileRefused
from desktop.state.filenames import clean_filename, file_kind, unique_path
from desktop.state.transfers import DONE, FAILED, PAUSED, download_key, upload_key
from desktop.state.types import DeliveryStatus, Message
from desktop.ui.conversation import row_index
from desktop.ui.file_bubble import describe
from tests.desktop.ui_helpers import drop_on, find, make_window  # noqa: F401

MB = 1024 * 1024


def _pdf(path: Path, size: int) -> Path:
    """A file the server sniffs as a PDF, ``size`` bytes of it random (incompressible)."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    path.write_bytes(head + os.urandom(size - len(head)))
    return path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(MB), b""):
            h.update(chunk)
    return h.hexdigest()


def _file_message(client: ChatClient, name: str) -> Message | None:
    model = client.message_model("general")
    return find(model, lambda m: m.file is not None and m.file.name == name and m.id is not None)


def _record_progress(client: ChatClient, key_prefix: str) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []

    def on_change(key: str) -> None:
        item = client.transfers.get(key)
        if key.startswith(key_prefix) and item is not None:
            seen.append((item.done, item.total))

    client.transfers.subscribe(on_change)
    return seen


def _cancel_when(client: ChatClient, key: str, past: int, cancel: Any) -> None:
    """Cancel the transfer ``key`` from its own progress, once more than ``past`` bytes
    moved: mid-transfer, whatever the machine's speed."""
    fired: list[bool] = []

    def on_change(changed: str) -> None:
        item = client.transfers.get(changed)
        if changed == key and item is not None and item.done > past and not fired:
            fired.append(True)
            cancel()

    client.transfers.subscribe(on_change)


def _window(make_client: Any, make_window: Any, url: str, name: str, qtbot: Any,
            tmp_path: Path) -> tuple[ChatClient, Any]:
    client = make_client(url, name)
    client.save_dir = tmp_path / f"{name}-downloads"
    window = make_window(client, name)
    window.files.opener = lambda url: True  # nothing opens on the test machine
    qtbot.waitUntil(lambda: window.current_room == "general")
    return client, window


# ------------------------------------------------------------------ names (no server)
def test_saved_names_are_cleaned_and_never_overwrite(tmp_path):
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("a\u202egnp.exe") == "agnp.exe"  # no bidi override
    assert clean_filename('re:port?<1>.pdf') == "re_port__1_.pdf"
    assert clean_filename("...") == "file" and clean_filename("CON.txt") == "_CON.txt"
    assert clean_filename("x" * 400 + ".pdf").endswith(".pdf")
    assert len(clean_filename("é" * 400 + ".pdf").encode()) <= 200
    (tmp_path / "report.pdf").write_bytes(b"mine")
    (tmp_path / "report (1).pdf").write_bytes(b"mine too")
    assert unique_path(tmp_path, "report.pdf") == tmp_path / "report (2).pdf"
    assert file_kind("a.bin", "application/pdf") == "pdf"
    assert file_kind("song.mp3", "application/octet-stream") == "audio"
    assert file_kind("x.tar.gz", "application/gzip") == "archive"
    assert file_kind("main.py", "text/plain") == "text"


# ------------------------------------------------------------------ the round trip
def test_a_20_mb_file_goes_up_with_progress_and_comes_down_byte_for_byte(
    server_url, make_client, make_window, qtbot, tmp_path
):
    alice, window = _window(make_client, make_window, server_url, "alice", qtbot, tmp_path)
    bob = make_client(server_url, "bob")
    bob.save_dir = tmp_path / "bob-downloads"
    source = _pdf(tmp_path / "quarterly report.pdf", 20 * MB)
    uploads = _record_progress(alice, "up:")

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(source))])
    assert drop_on(window.timeline.viewport(), mime)  # a PDF is no longer refused
    chips = window.composer_panel.chips
    assert [c.attachment.name for c in chips] == ["quarterly report.pdf"]
    assert chips[0].attachment.path == source and chips[0].attachment.data == b""
    window.composer_panel.submit()

    qtbot.waitUntil(lambda: _file_message(bob, source.name) is not None, timeout=60_000)
    got = _file_message(bob, source.name)
    assert got is not None and got.file is not None and got.kind == "file"
    assert (got.file.size, got.file.mime) == (20 * MB, "application/pdf")
    # the upload reported its progress on the way, and the echo became the sent message
    assert any(0 < done < total for done, total in uploads)
    assert uploads[-1][0] == 20 * MB
    qtbot.waitUntil(lambda: _file_message(alice, source.name) is not None)  # the ack
    mine = _file_message(alice, source.name)
    assert mine is not None and mine.status >= DeliveryStatus.SENT
    qtbot.waitUntil(lambda: alice.transfers.get(upload_key(mine.client_id or "")) is None)

    downloads = _record_progress(bob, "down:")
    with qtbot.waitSignal(bob.fileSaved, timeout=60_000) as saved:
        assert bob.download_file(got.file)
    path = Path(saved.args[1])
    assert path == tmp_path / "bob-downloads" / "quarterly report.pdf"
    assert _digest(path) == _digest(source)
    assert any(0 < done < total for done, total in downloads)
    assert not bob.part_path(got.file.id).exists()
    assert bob.saved_path(got.file.id) == path
    # a second download never overwrites the first
    with qtbot.waitSignal(bob.fileSaved, timeout=60_000) as again:
        assert bob.download_file(got.file)
    assert Path(again.args[1]).name == "quarterly report (1).pdf"


def test_cancel_mid_upload_leaves_a_failed_message_that_retry_sends(
    server_url, make_client, make_window, make_peer, run, qtbot, tmp_path
):
    alice, window = _window(make_client, make_window, server_url, "alice", qtbot, tmp_path)
    carol = make_peer(server_url, "carol")
    source = _pdf(tmp_path / "big.pdf", 8 * MB)
    cid = alice.send_file("general", source, "the big one")
    _cancel_when(alice, upload_key(cid), MB, lambda: alice.cancel_upload(cid))

    model = alice.message_model("general")
    qtbot.waitUntil(lambda: find(model, lambda m: m.client_id == cid
                                 and m.status == DeliveryStatus.FAILED) is not None)
    echo = find(model, lambda m: m.client_id == cid)
    assert echo is not None and echo.error == "The upload of big.pdf was cancelled."
    assert alice.can_retry(cid)
    item = alice.transfers.get(upload_key(cid))
    assert item is not None and item.state == FAILED and 0 < item.done < item.total
    view = window.files.view_for(echo, True)
    assert view.actions == ("retry",) and view.error and "cancelled" in view.status
    assert not [m for m in carol.of("message") if m.get("kind") == "file"]

    window.files.run(echo, "retry")
    qtbot.waitUntil(lambda: any(m.get("kind") == "file" for m in carol.of("message")),
                    timeout=30_000)
    sent = [m for m in carol.of("message") if m.get("kind") == "file"]
    assert len(sent) == 1 and sent[0]["file"]["size"] == 8 * MB
    assert sent[0]["text"] == "the big one"


def test_an_interrupted_download_resumes_with_range(
    server_url, make_client, qtbot, tmp_path
):
    alice = make_client(server_url, "alice")
    bob = make_client(server_url, "bob")
    bob.save_dir = tmp_path / "saved"
    source = _pdf(tmp_path / "slides.pdf", 6 * MB)
    alice.send_file("general", source)
    qtbot.waitUntil(lambda: _file_message(bob, "slides.pdf") is not None, timeout=30_000)
    got = _file_message(bob, "slides.pdf")
    assert got is not None and got.file is not None
    file_id = got.file.id

    # cancelled part way: the part file keeps what arrived
    _cancel_when(bob, download_key(file_id), 2 * MB, lambda: bob.cancel_download(file_id))
    bob.download_file(got.file)
    qtbot.waitUntil(lambda: (t := bob.transfers.get(download_key(file_id))) is not None
                    and t.state == PAUSED)
    part = bob.part_path(file_id)
    have = part.stat().st_size
    assert 2 * MB < have < 6 * MB
    assert bob.saved_path(file_id) is None

    with qtbot.waitSignal(bob.fileSaved, timeout=30_000):
        bob.download_file(got.file)
    item = bob.transfers.get(download_key(file_id))
    assert item is not None and item.state == DONE and item.resumed_from == have
    saved = bob.saved_path(file_id)
    assert saved is not None and _digest(saved) == _digest(source)

    # what a dropped connection (or a crash) leaves: a part file with a prefix of it
    carol = make_client(server_url, "carol")
    carol.save_dir = tmp_path / "carol"
    carol.downloads_dir.mkdir(parents=True, exist_ok=True)
    carol.part_path(file_id).write_bytes(source.read_bytes()[: MB + 7])
    with qtbot.waitSignal(carol.fileSaved, timeout=30_000) as done:
        carol.download_file(got.file)
    assert carol.transfers.get(download_key(file_id)).resumed_from == MB + 7  # type: ignore[union-attr]
    assert _digest(Path(done.args[1])) == _digest(source)


def test_a_file_over_the_servers_limit_is_refused_with_a_sentence(
    start_test_server, make_client, make_window, qtbot, tmp_path
):
    url = start_test_server(max_file_bytes=MB)
    alice, window = _window(make_client, make_window, url, "alice", qtbot, tmp_path)
    panel = window.composer_panel
    assert panel.max_file_bytes == MB  # from the session's limits
    big = tmp_path / "archive.zip"
    big.write_bytes(b"PK\x03\x04" + b"\0" * (MB + MB // 2))
    assert panel.add_files([big]) == 0
    assert panel.error_label.isVisible()
    assert panel.error_label.text() == (
        "archive.zip is 1.5 MB; this server takes files up to 1.0 MB.")
    with pytest.raises(FileRefused, match="takes files up to 1.0 MB"):
        alice.send_file("general", big)
    assert alice.outbox.entries() == []
    # a file within the limit is taken, and an image over the image limit goes as a file
    small = tmp_path / "notes.txt"
    small.write_text("plain words")
    assert panel.add_files([small]) == 1
    assert not panel.error_label.isVisible()
    assert panel.chips[0].attachment.path == small


def test_dropping_a_pdf_attaches_it_and_it_arrives_as_a_file(
    server_url, make_client, make_window, make_peer, qtbot, tmp_path
):
    alice, window = _window(make_client, make_window, server_url, "alice", qtbot, tmp_path)
    bob = make_peer(server_url, "bob")
    pdf = _pdf(tmp_path / "menu.pdf", 3000)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(pdf))])
    assert drop_on(window.composer.viewport(), mime)
    assert not window.composer_panel.error_label.isVisible()
    assert [c.attachment.name for c in window.composer_panel.chips] == ["menu.pdf"]
    window.composer.setFocus()
    qtbot.keyClicks(window.composer, "tonight's menu")
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(m.get("kind") == "file" for m in bob.of("message")),
                    timeout=20_000)
    (sent,) = [m for m in bob.of("message") if m.get("kind") == "file"]
    assert sent["file"]["name"] == "menu.pdf" and sent["file"]["mime"] == "application/pdf"
    assert sent["text"] == "tonight's menu"  # the typed line became the caption


def test_the_card_actions_work_from_the_menu_and_the_keyboard(
    server_url, make_client, make_window, qtbot, tmp_path
):
    alice = make_client(server_url, "alice")
    bob, window = _window(make_client, make_window, server_url, "bob", qtbot, tmp_path)
    opened: list[str] = []
    window.files.opener = lambda url: opened.append(url.toLocalFile()) or True
    source = _pdf(tmp_path / "plan.pdf", 200_000)
    alice.send_file("general", source)
    qtbot.waitUntil(lambda: _file_message(bob, "plan.pdf") is not None, timeout=20_000)
    got = _file_message(bob, "plan.pdf")
    assert got is not None and got.id is not None and got.file is not None
    timeline = window.timeline
    index = row_index(timeline, got.id)
    timeline.scrollTo(index)
    menu = timeline.context_menu_at(timeline.visualRect(index).center(), index)
    assert menu is not None
    words = {a.text(): a for a in menu.actions() if not a.isSeparator()}
    assert "Download file" in words and "Open file" in words
    with qtbot.waitSignal(bob.fileSaved, timeout=20_000) as saved:
        words["Download file"].trigger()
    menu.deleteLater()
    assert window.files.view_for(got, False).actions == ("open", "folder")

    # Enter on the focused message opens it now that it is saved
    timeline.setFocus()
    timeline.setCurrentIndex(index)
    qtbot.keyClick(timeline, Qt.Key.Key_Return)
    assert opened == [saved.args[1]]
    # a click on the card's "Show in folder" opens the folder
    lay = timeline.delegate.layout_for(timeline.option_for(index), index)
    assert lay.file_rect is not None
    kind, value = "", None
    top_left = timeline.visualRect(index).topLeft()
    for x in range(lay.file_rect.left(), lay.file_rect.right(), 4):
        pos = QPoint(x, lay.file_rect.bottom() - 6) + top_left
        kind, value = timeline.hit(pos)[1:]
        if kind == "file" and value[1] == "folder":  # type: ignore[index]
            qtbot.mouseClick(timeline.viewport(), Qt.MouseButton.LeftButton, pos=pos)
            break
    assert kind == "file"
    assert opened[-1] == str(Path(saved.args[1]).parent)


def test_deleting_a_file_message_drops_the_partial_download(
    server_url, make_client, qtbot, tmp_path
):
    alice = make_client(server_url, "alice")
    bob = make_client(server_url, "bob")
    bob.save_dir = tmp_path / "bob"
    source = _pdf(tmp_path / "draft.pdf", 4 * MB)
    alice.send_file("general", source)
    qtbot.waitUntil(lambda: _file_message(bob, "draft.pdf") is not None, timeout=30_000)
    got = _file_message(bob, "draft.pdf")
    assert got is not None and got.file is not None and got.id is not None
    file_id = got.file.id
    _cancel_when(bob, download_key(file_id), MB, lambda: bob.cancel_download(file_id))
    bob.download_file(got.file)
    qtbot.waitUntil(lambda: (t := bob.transfers.get(download_key(file_id))) is not None
                    and t.state == PAUSED)
    assert bob.part_path(file_id).exists()

    mine = _file_message(alice, "draft.pdf")
    assert mine is not None
    alice.delete_message(mine)
    qtbot.waitUntil(lambda: got.deleted, timeout=20_000)
    assert not bob.part_path(file_id).exists()
    assert bob.transfers.get(download_key(file_id)) is None
    assert list(bob.downloads_dir.glob("*.part")) == []


def test_an_image_past_the_sockets_comfort_goes_up_as_a_file_and_arrives_as_an_image(
    server_url, make_client, make_window, make_peer, qtbot, tmp_path
):
    from PIL import Image

    from desktop.net.files import SOCKET_IMAGE_BYTES

    alice, window = _window(make_client, make_window, server_url, "alice", qtbot, tmp_path)
    bob = make_peer(server_url, "bob")
    photo = tmp_path / "noise.png"
    Image.frombytes("RGB", (1000, 900), os.urandom(1000 * 900 * 3)).save(photo, "PNG")
    assert SOCKET_IMAGE_BYTES < photo.stat().st_size < alice.limits["max_image_bytes"]
    assert window.composer_panel.add_files([photo]) == 1
    assert window.composer_panel.chips[0].attachment.path == photo  # not read into memory
    window.composer_panel.submit()
    entry = alice.outbox.entries()[0]
    assert entry.is_file and entry.image_file is None  # no image bytes in the outbox
    qtbot.waitUntil(lambda: any(m.get("kind") == "image" for m in bob.of("message")),
                    timeout=30_000)
    (got,) = [m for m in bob.of("message") if m.get("kind") == "image"]
    assert (got["image"]["width"], got["image"]["height"]) == (1000, 900)
    assert got["image"]["size"] == photo.stat().st_size and got["image"]["thumb"]


def test_a_draft_keeps_an_attached_file_by_its_path(tmp_path):
    from desktop.ui.attachments import Attachment
    from desktop.ui.drafts import Draft, DraftStore

    big = tmp_path / "video.mp4"
    big.write_bytes(b"\0" * 5000)
    store = DraftStore(tmp_path / "data")
    store.set("general", Draft("see this", [(Attachment(b"", big.name, "video/mp4", big,
                                                        5000), "the demo")]))
    assert list((tmp_path / "data" / "drafts").glob("*.bin")) == []  # never copied
    again = DraftStore(tmp_path / "data").get("general")
    ((att, caption),) = again.attachments
    assert (att.path, att.size, att.data, caption) == (big, 5000, b"", "the demo")


def test_many_files_at_once_all_arrive_once(
    server_url, make_client, make_peer, qtbot, tmp_path
):
    alice = make_client(server_url, "alice")
    bob = make_peer(server_url, "bob")
    names = [f"part-{n}.pdf" for n in range(7)]  # more than the server's 4 in flight
    for name in names:
        alice.send_file("general", _pdf(tmp_path / name, 300_000 + len(name)))
    qtbot.waitUntil(lambda: sum(m.get("kind") == "file" for m in bob.of("message")) >= 7,
                    timeout=30_000)
    got = sorted(m["file"]["name"] for m in bob.of("message") if m.get("kind") == "file")
    assert got == names
    qtbot.waitUntil(lambda: alice.outbox.entries() == [])


class _CuttingProxy:
    """A real TCP proxy in front of the server that cuts the first ``GET /media/``
    connection after ``cut_after`` bytes of its answer (a dropped download); everything
    else (the socket, later downloads) passes through untouched."""

    def __init__(self, upstream: str, cut_after: int) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.cut_after = cut_after
        self.cuts = 0
        self.server: Any = None

    async def start(self) -> str:
        import asyncio

        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: Any, writer: Any) -> None:
        import asyncio

        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        first = await reader.read(65536)
        cut = first.startswith(b"GET /media/") and self.cuts == 0
        if cut:
            self.cuts += 1
        up_writer.write(first)

        async def pump(src: Any, dst: Any, limit: int | None) -> None:
            sent = 0
            try:
                while data := await src.read(65536):
                    if limit is not None and sent + len(data) > limit:
                        dst.write(data[: limit - sent])
                        break
                    dst.write(data)
                    sent += len(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, None),
                             pump(up_reader, writer, self.cut_after if cut else None))
        for w in (writer, up_writer):
            w.close()


def test_a_download_cut_off_by_the_network_resumes_with_range(
    server_url, make_client, run, qtbot, tmp_path
):
    alice = make_client(server_url, "alice")
    proxy = _CuttingProxy(server_url, cut_after=2 * MB + 1234)
    proxy_url = run(proxy.start())
    try:
        bob = make_client(proxy_url, "bob")  # the socket and the downloads go through it
        bob.save_dir = tmp_path / "bob"
        source = _pdf(tmp_path / "notes.pdf", 5 * MB)
        alice.send_file("general", source)
        qtbot.waitUntil(lambda: _file_message(bob, "notes.pdf") is not None, timeout=30_000)
        got = _file_message(bob, "notes.pdf")
        assert got is not None and got.file is not None
        key = download_key(got.file.id)
        bob.download_file(got.file)
        qtbot.waitUntil(lambda: (t := bob.transfers.get(key)) is not None and t.state == PAUSED,
                        timeout=30_000)
        item = bob.transfers.get(key)
        assert item is not None and "Resume goes on from" in item.error
        have = bob.part_path(got.file.id).stat().st_size
        assert MB < have < 2 * MB + 1234 and proxy.cuts == 1  # the headers came first
        view = describe(got, None, item, False, False)
        assert view.actions[0] == "resume" and view.progress is not None

        with qtbot.waitSignal(bob.fileSaved, timeout=30_000) as saved:
            bob.download_file(got.file)
        assert bob.transfers.get(key).resumed_from == have  # type: ignore[union-attr]
        assert _digest(Path(saved.args[1])) == _digest(source)
    finally:
        run(bob.disconnect())
        run(proxy.stop())


def test_a_file_queued_offline_is_sent_by_the_next_run_and_a_missing_one_says_so(
    server_url, make_client, make_peer, run, qtbot, tmp_path
):
    from tests.desktop.conftest import PASSWORD

    bob = make_peer(server_url, "bob")
    data_dir = tmp_path / "alice-data"
    first = make_client(None, "alice", data_dir=data_dir, connect=False)
    kept = _pdf(tmp_path / "kept.pdf", 400_000)
    gone = _pdf(tmp_path / "gone.pdf", 1000)
    first.send_file("general", kept, "queued while offline")
    missing_cid = first.send_file("general", gone)
    assert [e.file_name for e in first.outbox.entries()] == ["kept.pdf", "gone.pdf"]
    run(first.disconnect())
    gone.unlink()

    # the next run of the app (same data folder) shows both and sends what it can
    second = make_client(None, "alice", data_dir=data_dir, connect=False)
    assert run(second.connect_to(server_url, {"username": "alice", "password": PASSWORD}))
    qtbot.waitUntil(lambda: any(m.get("kind") == "file" for m in bob.of("message")),
                    timeout=30_000)
    (sent,) = [m for m in bob.of("message") if m.get("kind") == "file"]
    assert sent["file"]["name"] == "kept.pdf" and sent["text"] == "queued while offline"
    model = second.message_model("general")
    qtbot.waitUntil(lambda: find(model, lambda m: m.client_id == missing_cid
                                 and m.status == DeliveryStatus.FAILED) is not None)
    echo = find(model, lambda m: m.client_id == missing_cid)
    assert echo is not None and echo.kind == "file"
    assert echo.error is not None and echo.error.startswith("gone.pdf can no longer be read")
    assert second.can_retry(missing_cid)  # put the file back and Retry sends it


def test_cancel_on_a_paused_download_discards_its_part(server_url, make_client, make_window,
                                                       qtbot, tmp_path):
    alice = make_client(server_url, "alice")
    bob, window = _window(make_client, make_window, server_url, "bob", qtbot, tmp_path)
    source = _pdf(tmp_path / "thing.pdf", 3 * MB)
    alice.send_file("general", source)
    qtbot.waitUntil(lambda: _file_message(bob, "thing.pdf") is not None, timeout=30_000)
    got = _file_message(bob, "thing.pdf")
    assert got is not None and got.file is not None
    key = download_key(got.file.id)
    _cancel_when(bob, key, MB, lambda: window.files.run(got, "cancel"))  # the card's Cancel
    window.files.run(got, "download")
    qtbot.waitUntil(lambda: (t := bob.transfers.get(key)) is not None and t.state == PAUSED)
    assert window.files.view_for(got, False).actions == ("resume", "cancel")
    assert bob.part_path(got.file.id).exists()
    window.files.run(got, "cancel")  # now it gives the part up
    assert not bob.part_path(got.file.id).exists() and bob.transfers.get(key) is None
    assert window.files.view_for(got, False).actions == ("download", "open")
