"""The official Node socket.io-client against the cluster, through HAProxy, over long-polling.

tests/interop/chat.js runs its whole script (rooms, messages, an image, history, receipts,
typing, DMs, presence) with three users whose handshakes HAProxy spreads over the nodes,
so every polling request must stick to its node and every event must cross nodes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.cluster.conftest import Cluster, ClusterFactory
from tests.interop.harness import (
    INTEROP_DIR,
    SCRIPT_TIMEOUT_S,
    missing_node_reason,
    node_required,
    unique_prefix,
)
from tests.interop.test_interop_chat import make_png

pytestmark = [pytest.mark.slow, pytest.mark.interop]


def _run(cluster: Cluster, script: str, transport: str, *args: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    proc = subprocess.run(
        [node, str(INTEROP_DIR / script), cluster.url, transport, unique_prefix(transport),
         *args],
        cwd=INTEROP_DIR, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S, check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n"
                    f"{cluster.logs()}")
    result: dict[str, Any] = json.loads(lines[-1])
    if not result.get("ok"):
        pytest.fail(f"{script} failed: {result.get('error')}\n"
                    f"{json.dumps(result.get('steps'), indent=1)[:4000]}\n{cluster.logs()}")
    return result


@pytest.mark.parametrize("lb", ["haproxy", "nginx"])
async def test_node_client_chats_through_the_balancer_over_polling(
        cluster_factory: ClusterFactory, tmp_path, lb: str) -> None:
    reason = missing_node_reason()
    if reason is not None:
        if node_required():
            pytest.fail(f"interop tests are required here: {reason}")
        pytest.skip(reason)
    cluster = await cluster_factory(nodes=3, lb=lb)
    png = tmp_path / "dot.png"
    png.write_bytes(make_png())
    steps = _run(cluster, "chat.js", "polling", str(png))["steps"]
    for key in ("send", "resend", "send2", "image_send", "dm_open", "dm_send",
                "receipt_delivered", "receipt_read"):
        assert steps[key]["ok"] is True, (key, steps[key])
    assert steps["resend"]["message"]["id"] == steps["send"]["message"]["id"]
    assert steps["bob_copies_of_cid1"] == 1
    assert steps["media_get_sha_matches"] is True
    assert steps["status_delivered"]["by"] == steps["names"]["bob"]
    assert steps["status_read"]["state"] == "read"
    assert steps["typing_relay"]["typing"] is True
    assert steps["presence_offline"]["state"] == "offline"
    assert steps["dm_forbidden_for_bob"]["error"]["code"] in ("forbidden", "not_found")
