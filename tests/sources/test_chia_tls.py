"""Chia TLS and full-node RPC failures: clear errors, `source_error` events, no crash."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alertbot.errors import SourceError
from alertbot.sources.chia import ChiaSettings, ChiaSource
from alertbot.sources.chia_certs import make_ssl_dir
from alertbot.sources.chia_tls import client_context
from alertbot.sources.runner import SourceRunner
from alertbot.sources.sim.chia import ChiaSim, RpcReply
from tests.sources.conformance import RecordingContext

FAST: dict[str, Any] = {"healthy_after": 0.05, "request_timeout": 0.3, "open_timeout": 1,
                        "poll_interval": 0.1,
                        "reconnect": {"initial": 0.05, "max": 0.1, "jitter": 0}}


@pytest.fixture
async def sim() -> AsyncIterator[ChiaSim]:
    async with ChiaSim(sp_interval=0.05) as s:
        yield s


class Running:
    """A ChiaSource under the real runner, recording its events."""

    def __init__(self, sim: ChiaSim, **extra: Any) -> None:
        self.ctx = RecordingContext("chia")
        cfg = ChiaSettings.model_validate({**sim.source_config(), **FAST, **extra})
        self.runner = SourceRunner(ChiaSource("chia", cfg, self.ctx), rng=random.Random(0))
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.runner.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def errors(self, kind: str) -> list[str]:
        return [str(e.data["message"]) for e in self.ctx.of_type("source_error")
                if e.data["kind"] == kind]


def test_missing_certificate_names_the_file(tmp_path: Path) -> None:
    """No ssl_dir at all: the error names the CA file that is missing."""
    with pytest.raises(SourceError, match=r"private_ca\.crt does not exist") as err:
        client_context(str(tmp_path / "nowhere"))
    assert err.value.kind == "tls"


def test_unreadable_key_names_the_file(tmp_path: Path) -> None:
    """A key that cannot be read is named in the error (not an opaque SSL error)."""
    make_ssl_dir(tmp_path)
    key = tmp_path / "daemon" / "private_daemon.key"
    key.unlink()
    key.mkdir()                        # readable by nobody as a file, even as root
    with pytest.raises(SourceError, match=r"cannot read .*private_daemon\.key"):
        client_context(str(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_says_so(tmp_path: Path) -> None:
    """Mode 000 on the key: the error says permission denied and what to do."""
    make_ssl_dir(tmp_path)
    (tmp_path / "daemon" / "private_daemon.key").chmod(0)
    with pytest.raises(SourceError, match="permission denied"):
        client_context(str(tmp_path))


def test_client_cert_from_another_ca(tmp_path: Path) -> None:
    """Our certificate issued by a different CA than ca/private_ca.crt is refused up front."""
    make_ssl_dir(tmp_path / "a")
    make_ssl_dir(tmp_path / "b", ca_name="Other CA")
    shutil.copy(tmp_path / "b" / "ca" / "private_ca.crt", tmp_path / "a" / "ca")
    with pytest.raises(SourceError, match=r"private_daemon\.crt was not issued by"):
        client_context(str(tmp_path / "a"))


def test_context_verifies_without_hostname_check(tmp_path: Path) -> None:
    """The context verifies the chain (never CERT_NONE) but skips the hostname."""
    import ssl
    ctx = client_context(str(make_ssl_dir(tmp_path)))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is False


async def test_daemon_of_another_ca_is_refused_and_retried(sim: ChiaSim, tmp_path: Path) -> None:
    """A daemon whose certificate our CA did not sign: TLS failure reported, retries go on."""
    other = make_ssl_dir(tmp_path / "other", ca_name="Other CA")
    async with Running(sim, ssl_dir=str(other)) as run:
        await run.ctx.wait_for(lambda: len(run.errors("tls")) >= 2)
        assert run.task is not None and not run.task.done()
    assert "certificate verify failed" in run.errors("tls")[0].lower()
    assert "connected" not in run.ctx.states() and sim.subscribers == 0


async def test_certificates_appear_later(sim: ChiaSim, tmp_path: Path) -> None:
    """Missing certificates are reported; once they exist the watcher connects."""
    late = tmp_path / "late"
    async with Running(sim, ssl_dir=str(late)) as run:
        await run.ctx.wait_for(lambda: bool(run.errors("tls")))
        assert "does not exist" in run.errors("tls")[0]
        shutil.copytree(sim.ssl_dir, late)
        await run.ctx.wait_for(lambda: "connected" in run.ctx.states())
        await run.ctx.wait_for(lambda: bool(run.ctx.of_type("signage_point")))


def rpc_bodies(shared: Path) -> dict[str, dict[str, Any]]:
    path = shared / "fixtures" / "chia" / "rpc_responses.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {f"{r['path']} {r['http_status']}": r for r in rows}


async def test_rpc_failures_become_source_errors(sim: ChiaSim, shared_dir: Path) -> None:
    """success:false, 404, non-JSON 500 and a timeout: each one source_error, then state."""
    rows = rpc_bodies(shared_dir)
    handled = rows["/get_block_record_by_height 200"]
    sim.rpc_script = [
        RpcReply(200, handled["body"]),
        RpcReply(404, rows["/no_such_endpoint 404"]["body"], "text/plain"),
        RpcReply(500, rows["/get_blockchain_state 500"]["body"], "text/plain"),
        RpcReply(hold=True)]
    async with Running(sim, full_node_url=sim.rpc_url, services=["metrics"]) as run:
        await run.ctx.wait_for(lambda: len(sim.rpc_requests) >= 5 and any(
            e.data.get("peak_height") for e in run.ctx.of_type("blockchain_state")
            if e.data.get("sub_slot_iters") == 578813952))
        assert run.task is not None and not run.task.done()
    rpc = run.errors("rpc")
    assert any("BLOCK_HEIGHT_NOT_FOUND" in m for m in rpc)
    assert any("HTTP 404" in m for m in rpc) and any("HTTP 500" in m for m in rpc)
    assert any("did not answer within" in m for m in run.errors("timeout"))


async def test_rpc_with_certificates_of_another_ca(sim: ChiaSim, tmp_path: Path) -> None:
    """The full node RPC with the wrong CA: a tls source_error naming the URL, no crash."""
    other = make_ssl_dir(tmp_path / "other", services=("full_node",), ca_name="Other CA")
    shutil.copytree(sim.ssl_dir / "daemon", other / "daemon")
    # the daemon link must work, so keep the sim's CA for it: only the RPC pair differs
    ssl_dir = tmp_path / "mixed"
    shutil.copytree(sim.ssl_dir, ssl_dir)
    shutil.rmtree(ssl_dir / "full_node")
    shutil.copytree(other / "full_node", ssl_dir / "full_node")
    async with Running(sim, ssl_dir=str(ssl_dir), full_node_url=sim.rpc_url) as run:
        await run.ctx.wait_for(lambda: bool(run.errors("tls")))
    assert "private_full_node.crt was not issued by" in run.errors("tls")[0]


async def test_rpc_client_with_injected_transport() -> None:
    """chia_rpc.call over httpx.MockTransport: JSON that is not an object, then success."""
    import httpx

    from alertbot.sources import chia_rpc

    answers = iter([httpx.Response(200, json=[1, 2]),
                    httpx.Response(200, json={"success": True, "blockchain_state": {}})])
    transport = httpx.MockTransport(lambda request: next(answers))
    with pytest.raises(SourceError, match="not an object"):
        await chia_rpc.call("https://node:8555", "get_blockchain_state", ssl_dir="/none",
                            timeout=1, transport=transport)
    body = await chia_rpc.call("https://node:8555/", "get_blockchain_state", ssl_dir="/none",
                               timeout=1, transport=transport)
    assert body["success"] is True
