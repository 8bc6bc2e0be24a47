"""Sessions and tokens through the official Node socket.io-client, on both transports."""

from __future__ import annotations

from typing import Any

import pytest

from server.protocol import PROTOCOL_VERSION, ErrorCode, Event
from tests.interop.harness import TRANSPORTS, NodeRunner

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module", params=TRANSPORTS)
def steps(request: pytest.FixtureRequest, run_node: NodeRunner) -> dict[str, Any]:
    result = run_node("auth.js", request.param)
    assert result["transport"] == request.param
    return result["steps"]


def test_register_by_login_gets_session_first(steps: dict[str, Any]) -> None:
    reg = steps["register"]
    assert reg["first_event"] == Event.SESSION
    assert reg["connected"] is True
    session = reg["session"]
    assert session["user"]["name"].endswith("_ann")
    assert isinstance(session["token"], str) and len(session["token"]) >= 22
    assert session["server"]["protocol"] == PROTOCOL_VERSION
    assert set(session["server"]["limits"]) >= {"max_text_chars", "max_image_bytes",
                                                "history_limit"}


def test_login_again_with_the_same_password(steps: dict[str, Any]) -> None:
    assert steps["login"]["first_event"] == Event.SESSION
    assert steps["login"]["session"]["user"] == steps["register"]["session"]["user"]


def test_wrong_password_is_a_connect_error_with_unauthorized_data(steps: dict[str, Any]) -> None:
    err = steps["wrong_password"]
    assert err is not None, "a wrong password was accepted"
    assert isinstance(err["message"], str) and err["message"]
    assert err["data"]["code"] == ErrorCode.UNAUTHORIZED
    assert isinstance(err["data"]["message"], str)


@pytest.mark.parametrize(("step", "codes"), [
    ("bad_token", {ErrorCode.UNAUTHORIZED}),
    ("no_auth", {ErrorCode.BAD_REQUEST, ErrorCode.UNAUTHORIZED}),
    ("bad_username", {ErrorCode.BAD_REQUEST, ErrorCode.UNAUTHORIZED}),
])
def test_bad_auth_is_refused_with_a_code(steps: dict[str, Any], step: str,
                                         codes: set[str]) -> None:
    err = steps[step]
    assert err is not None, f"{step} was accepted"
    assert err["data"]["code"] in codes


def test_token_resume_and_logout_revokes_it(steps: dict[str, Any]) -> None:
    assert steps["resume"]["first_event"] == Event.SESSION
    assert steps["resume"]["session"]["user"] == steps["register"]["session"]["user"]
    assert steps["logout"]["ok"] is True
    revoked = steps["after_logout"]
    assert revoked is not None, "the token still works after session:logout"
    assert revoked["data"]["code"] == ErrorCode.UNAUTHORIZED
