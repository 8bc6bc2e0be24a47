"""The command line: flags, PARLEY_* variables, the listening line and clean SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from server.cli import config_from_args


def test_flags_map_onto_the_config(tmp_path: Path) -> None:
    config = config_from_args(
        [
            "--host",
            "0.0.0.0",
            "--port",
            "9000",
            "--data-dir",
            str(tmp_path),
            "--rate-limit",
            "5/2",
            "--registration",
            "closed",
            "--max-image-mb",
            "2",
            "--cors-origin",
            "https://a.example",
            "--cors-origin",
            "https://b.example",
            "--log-level",
            "debug",
        ],
        env={},
    )
    assert (config.host, config.port, config.data_dir) == ("0.0.0.0", 9000, tmp_path)
    assert (config.rate_limit_messages, config.rate_limit_window_s) == (5, 2.0)
    assert config.registration_open is False
    assert config.max_image_bytes == 2 * 1024 * 1024
    assert config.cors_origins == ["https://a.example", "https://b.example"]
    assert config.log_level == "DEBUG"


def test_environment_variables_are_defaults_and_flags_win(tmp_path: Path) -> None:
    env = {
        "PARLEY_HOST": "::1",
        "PARLEY_PORT": "0",
        "PARLEY_DATA_DIR": str(tmp_path),
        "PARLEY_RATE_LIMIT": "0",
        "PARLEY_REGISTRATION": "closed",
        "PARLEY_MAX_IMAGE_MB": "1.5",
        "PARLEY_CORS_ORIGINS": "https://a.example, https://b.example",
        "PARLEY_LOG_LEVEL": "warning",
    }
    config = config_from_args([], env=env)
    assert (config.host, config.port, config.data_dir) == ("::1", 0, tmp_path)
    assert config.rate_limit_messages == 0 and config.registration_open is False
    assert config.max_image_bytes == int(1.5 * 1024 * 1024)
    assert config.cors_origins == ["https://a.example", "https://b.example"]
    assert config.log_level == "WARNING"
    assert config_from_args(["--port", "1234"], env=env).port == 1234


def test_defaults_are_the_protocol_defaults() -> None:
    config = config_from_args([], env={})
    assert (config.host, config.port) == ("127.0.0.1", 8765)
    assert (config.rate_limit_messages, config.rate_limit_window_s) == (20, 10.0)
    assert config.registration_open is True and config.cors_origins == []
    assert config.data_dir.parts[-2:] == ("Parley", "server") or config.data_dir.name == "server"


def test_the_login_limit_per_address_is_a_flag_and_a_variable() -> None:
    assert config_from_args([], env={}).login_attempts_per_ip_per_minute == 60
    env = {"PARLEY_LOGINS_PER_MINUTE": "0"}  # off: a load test from one address
    assert config_from_args([], env=env).login_attempts_per_ip_per_minute == 0
    flagged = config_from_args(["--logins-per-minute", "5"], env=env)
    assert flagged.login_attempts_per_ip_per_minute == 5
    with pytest.raises(SystemExit):
        config_from_args(["--logins-per-minute", "-1"], env={})


@pytest.mark.parametrize(
    "bad",
    [
        ["--rate-limit", "lots"],
        ["--port", "70000"],
        ["--max-image-mb", "0"],
        ["--registration", "maybe"],
    ],
)
def test_bad_flags_exit_with_usage(bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        config_from_args(bad, env={})
    assert exc.value.code == 2


async def test_prints_the_listening_line_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line.startswith("Parley server listening on http://127.0.0.1:")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert (tmp_path / "parley.sqlite3").exists()
