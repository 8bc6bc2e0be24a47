"""Protocol v2 search and files through the official Node socket.io-client (and Node's
fetch for the HTTP routes), once over WebSocket and once over HTTP long-polling."""

from __future__ import annotations

from typing import Any

import pytest

from server.protocol import ErrorCode
from tests.interop.harness import TRANSPORTS, NodeRunner

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", params=TRANSPORTS)
def steps(request: pytest.FixtureRequest, run_node: NodeRunner) -> dict[str, Any]:
    result = run_node("search_files_v2.js", request.param)
    assert result["transport"] == request.param
    return result["steps"]


def texts(ack: dict[str, Any]) -> list[str]:
    assert ack["ok"] is True, ack
    return [m["text"] for m in ack["messages"]]


def code(ack: dict[str, Any]) -> str:
    assert ack["ok"] is False and ack["error"]["message"], ack
    return str(ack["error"]["code"])


def test_features(steps: dict[str, Any]) -> None:
    assert {"search", "files"} <= set(steps["features"])


def test_search(steps: dict[str, Any]) -> None:
    assert texts(steps["resume"]) == ["Mon Résumé est prêt"]
    assert texts(steps["phrase"]) == ["the quick brown fox"]
    assert texts(steps["words"]) == ["brown quick bread", "the quick brown fox"]
    page1, page2 = steps["page1"], steps["page2"]
    assert [t.split()[-1] for t in texts(page1)] == ["three", "two"] and page1["has_more"]
    assert [t.split()[-1] for t in texts(page2)] == ["one"] and not page2["has_more"]
    # bob is not in the private room: its message is never found, and asking answers as for
    # a room that does not exist
    assert "quick secret" not in texts(steps["bob_quick"])
    assert code(steps["hidden"]) == ErrorCode.NOT_FOUND
    assert code(steps["bad"]) == ErrorCode.BAD_REQUEST
    assert steps["syntax"]["ok"] is True or code(steps["syntax"]) == ErrorCode.BAD_REQUEST


def test_files(steps: dict[str, Any]) -> None:
    assert steps["upload_status"] == 201
    upload = steps["upload"]["upload"]
    assert upload["name"] == "Übersicht.bin" and upload["size"] == 50000
    message = steps["file_send"]["message"]
    assert message["kind"] == "file" and message["file"] == upload
    assert message["text"] == "see attached"
    assert steps["file_broadcast"]["file"] == upload
    assert code(steps["file_reuse"]) == ErrorCode.NOT_FOUND
    assert code(steps["file_and_image"]) == ErrorCode.BAD_REQUEST
    download = steps["download"]
    assert download["status"] == 200 and download["same"] is True
    assert download["type"] == upload["mime"] and download["nosniff"] == "nosniff"
    assert download["disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%C3%9Cbersicht.bin" in download["disposition"]
    assert steps["range"] == {"status": 206, "same": True, "content_range": "bytes 1000-1999/50000"}
    assert steps["bad_token"]["error"]["code"] == "unauthorized"
