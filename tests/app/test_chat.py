"""Telegram through the whole service: a price alert reaches the chat; /silence mutes it."""

from __future__ import annotations

from pathlib import Path

from alertbot.sources.sim.kraken import KrakenSim
from tests.app.service_kit import running, until, write_config
from tests.fakes.telegram_api import FakeTelegramAPI

CHAT = 4242
RULES = """\
rules:
  - id: btc-high
    source: kraken
    event: ticker
    where: {symbol: BTC/USD}
    when: {field: last, above: 100000}
    notify: [tg]
    message: "BTC at {{ last }}"
  - id: eth-high
    source: kraken
    event: ticker
    where: {symbol: ETH/USD}
    when: {field: last, above: 5000}
    notify: [tg]
"""


async def test_chat_status_silence_and_delivery(tmp_path: Path) -> None:
    """/status lists the source; after /silence btc-high only eth-high reaches the chat."""
    async with KrakenSim(walk=False) as sim, FakeTelegramAPI() as api:
        config = {"sources": {"kraken": {"kind": "kraken", "url": sim.url,
                                         "healthy_after": 0.05}},
                  "notifiers": {"tg": {"kind": "telegram", "token": api.token,
                                       "chat_id": CHAT, "api_url": api.base_url,
                                       "commands": True}}}
        path = write_config(tmp_path, config, RULES)
        async with running(path, watch_files=False) as service:
            await sim.wait_for(lambda: sim.subscribed("ticker", "ETH/USD"))
            await until(lambda: service.sources.states()["kraken"] == "connected")
            api.push_command("/silence btc-high 1h", chat_id=CHAT, user_id=1)
            await api.wait_sent(1, chat_id=CHAT)
            api.push_command("/status", chat_id=CHAT, user_id=1)
            await api.wait_sent(2, chat_id=CHAT)
            await sim.set_price("BTC/USD", 101000)
            await sim.set_price("ETH/USD", 6000)
            await api.wait_sent(3, chat_id=CHAT)
    texts = api.texts(CHAT)
    assert "silenced rule=btc-high" in texts[0]
    assert "kraken: connected" in texts[1]
    assert "eth-high" in texts[2] and "btc-high" not in texts[2]
    assert len(texts) == 3
