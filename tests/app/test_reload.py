"""Hot reload in a running service: state kept, nothing re-sent, bad edits rejected."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from alertbot.model import parse_time
from alertbot.sources.sim.kraken import KrakenSim
from tests.app.service_kit import running, until, write_config
from tests.app.test_service import kraken_config
from tests.fakes.http_receiver import HttpReceiver

RULES = """\
rules:
  - id: eth-high
    source: kraken
    event: ticker
    where: {symbol: ETH/USD}
    when: {field: last, above: 5000}
    notify: [hook]
  - id: btc-slow
    source: kraken
    event: ticker
    where: {symbol: BTC/USD}
    when: {field: last, above: 100000}
    for: 1s
    notify: [hook]
"""

SELF_RULE = """\
rules:
  - id: reload-broken
    source: alertbot
    event: reload_failed
    mode: event
    notify: [hook]
"""


async def test_valid_edit_keeps_state_and_does_not_resend(tmp_path: Path) -> None:
    """A reload mid-`for` keeps the original fire time; a firing alert is not re-sent."""
    async with KrakenSim(walk=False) as sim, HttpReceiver() as hook:
        path = write_config(tmp_path, kraken_config(sim, hook), RULES)
        async with running(path) as service:
            await sim.wait_for(lambda: sim.subscribed("ticker", "BTC/USD"))
            await sim.set_price("ETH/USD", 6000)
            await hook.wait_for(1)
            await sim.set_price("BTC/USD", 101000)
            (tmp_path / "rules" / "main.yaml").write_text(
                RULES.replace("for: 1s", "for: 1s\n    message: edited"))
            await until(lambda: service._reloader.reloads == 1)
            reloaded_at = service.clock.now()
            await sim.set_price("BTC/USD", 101500)
            await hook.wait_for(2)
    sent = [(r.json()["rule"], r.json()["status"]) for r in hook.requests]
    assert sent == [("eth-high", "firing"), ("btc-slow", "firing")]
    fired = hook.requests[1].json()
    assert fired["text"] == "edited"
    # Fired `for` after it went pending, which was before the reload: the timer survived.
    began = parse_time(fired["pending_since"])
    assert began < reloaded_at
    assert parse_time(fired["starts_at"]) - began == pytest.approx(1.0, abs=0.01)


async def test_invalid_edit_keeps_old_rules(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A broken rule file is rejected with FILE:LINE:COL and the old rules still alert."""
    async with KrakenSim(walk=False) as sim, HttpReceiver() as hook:
        path = write_config(tmp_path, kraken_config(sim, hook), SELF_RULE + RULES[7:])
        async with running(path, watch_files=False) as service:
            await sim.wait_for(lambda: sim.subscribed("ticker", "ETH/USD"))
            rules = tmp_path / "rules" / "main.yaml"
            rules.write_text(SELF_RULE + RULES.replace("above: 5000", "abve: 5000")[7:])
            with caplog.at_level(logging.ERROR):
                assert await service.reload() is False
            await hook.wait_for(1)
            await sim.set_price("ETH/USD", 6000)
            await hook.wait_for(2)
    assert [r.json()["rule"] for r in hook.requests] == ["reload-broken", "eth-high"]
    assert hook.requests[0].json()["event"]["data"]["file"] == str(rules)
    located = [r.getMessage() for r in caplog.records if "main.yaml:" in r.getMessage()]
    assert located == [f"reload rejected, old rules keep running: {rules}:11:25: "
                       "unknown key `abve` (did you mean `above`?)"]


def payment_rule(account: str) -> str:
    return f"""\
rules:
  - id: paid
    source: kakitu
    event: confirmation
    mode: event
    where: {{to_account: {account}}}
    dedup_key: "{{{{ send_hash }}}}"
    notify: [hook]
"""


async def test_reload_updates_kakitu_accounts_in_place(tmp_path: Path) -> None:
    """A rule naming a new account adds it to the live filter (no reconnect); a rule
    dropping one removes it, configured accounts stay."""
    from alertbot.sources.sim.kakitu import KakituSimulator, account_for

    configured, first, second = (account_for(n) for n in ("cfg", "first", "second"))
    sim = KakituSimulator()
    await sim.start()
    try:
        async with HttpReceiver() as hook:
            config = {"sources": {"kakitu": {
                "kind": "kakitu", "url": sim.ws_url, "rpc_url": sim.rpc_url,
                "accounts": [configured], "topics": ["confirmation"],
                "healthy_after": 0.05}},
                "notifiers": {"hook": {"kind": "webhook", "url": hook.url}}}
            path = write_config(tmp_path, config, payment_rule(first))
            async with running(path, watch_files=False) as service:
                await until(lambda: bool(sim.sessions) and "confirmation" in
                            sim.sessions[-1].subs)
                session = sim.sessions[-1]
                assert session.subs["confirmation"]["accounts"] == {configured, first}
                (tmp_path / "rules" / "main.yaml").write_text(payment_rule(second))
                assert await service.reload()
                await until(lambda: session.subs["confirmation"]["accounts"]
                            == {configured, second})
                assert sim.sessions[-1] is session and len(sim.sessions) == 1
    finally:
        await sim.stop()
