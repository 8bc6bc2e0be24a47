"""Bus envelopes and the ``--redis`` flags: no Redis needed."""

from __future__ import annotations

import argparse

import pytest

from server.cli import config_from_args
from server.cluster import envelope

NODE = b"0123456789abcdef"


def test_an_envelope_carries_json_and_raw_bytes() -> None:
    body = {"e": "message", "a": [{"thumb": b"\x00\xff" * 10, "text": "hi"}], "to": ["general"]}
    raw = envelope.encode(NODE, envelope.EMIT, body)
    assert envelope.sender(raw) == NODE
    assert envelope.decode(raw) == (NODE, envelope.EMIT, body)
    # no base64: the bytes travel as they are
    assert b"\x00\xff" * 10 in raw


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"X" + NODE + b"e\x00\x00\x00\x02{}",
        b"P" + NODE + b"e\x00\x00\x00\x09{}",
        b"P" + NODE + b"e\x00\x00\x00\x02{]",
        envelope.encode(NODE, envelope.EMIT, {"a": b"xyz"})[:-2],
    ],
)
def test_a_malformed_message_is_refused_not_crashed_on(raw: bytes) -> None:
    with pytest.raises(envelope.EnvelopeError):
        envelope.decode(raw)


def test_redis_flags_and_environment() -> None:
    config = config_from_args([], env={})
    assert config.redis_url is None
    config = config_from_args(
        ["--redis", "redis://10.0.0.5:6379/2", "--node-ttl", "8"],
        env={"PARLEY_REDIS_PREFIX": "team:"},
    )
    assert config.redis_url == "redis://10.0.0.5:6379/2"
    assert config.redis_prefix == "team:"
    assert config.cluster_node_ttl_s == 8 and config.cluster_heartbeat_s == 2
    assert config_from_args([], env={"PARLEY_REDIS_URL": "redis://r/0"}).redis_url == "redis://r/0"
    with pytest.raises(SystemExit):
        config_from_args(["--redis", "http://nope"], env={})


def test_parser_type_error_is_argparse_s() -> None:
    from server.cli import _redis_url

    with pytest.raises(argparse.ArgumentTypeError):
        _redis_url("localhost:6379")
