"""Feeds a REAL Chia farmer signage points by posing as its full node (chia venv only).

Run with the chia-blockchain venv's python (it imports `chia`, not alertbot):
`python chia_injector.py CHIA_ROOT NETWORK_ID INTERVAL INDEX...`. It connects to the
farmer's peer port (`farmer.port` of the root's config) with the full node's private
certificate, shakes hands as a full node (protocols/chia_real_peer.md §6), then sends
`new_signage_point` for each INDEX, INTERVAL seconds apart, with one fixed challenge and
fresh random SP hashes (the farmer does not validate them). Leaving out indexes makes
the farmer report them as missing; printing `sent N` per point shows progress.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import yaml
from chia.protocols.farmer_protocol import NewSignagePoint
from chia.protocols.outbound_message import NodeType, make_msg
from chia.protocols.protocol_message_types import ProtocolMessageTypes
from chia.protocols.shared_protocol import Handshake, default_capabilities, protocol_version
from chia.server.server import ssl_context_for_client
from chia_rs.sized_bytes import bytes32
from chia_rs.sized_ints import uint8, uint16, uint32, uint64


async def inject(root: Path, network: str, interval: float, indexes: list[int]) -> None:
    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    ssl = root / "config" / "ssl"
    ctx = ssl_context_for_client(ssl / "ca" / "private_ca.crt", ssl / "ca" / "private_ca.key",
                                 ssl / "full_node" / "private_full_node.crt",
                                 ssl / "full_node" / "private_full_node.key")
    url = f"wss://127.0.0.1:{config['farmer']['port']}/ws"
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(url, ssl=ctx, max_msg_size=50_000_000) as ws:
        hello = Handshake(network, protocol_version[NodeType.FULL_NODE], "2.7.5",
                          uint16(8444), uint8(NodeType.FULL_NODE),
                          default_capabilities[NodeType.FULL_NODE])
        await ws.send_bytes(bytes(make_msg(ProtocolMessageTypes.handshake, hello)))
        await ws.receive()              # the farmer's handshake
        challenge = bytes32(os.urandom(32))
        for index in indexes:
            sp = NewSignagePoint(challenge, bytes32(os.urandom(32)), bytes32(os.urandom(32)),
                                 uint64(1024), uint64(1024), uint8(index), uint32(1),
                                 uint32(1), None, None)
            await ws.send_bytes(bytes(make_msg(ProtocolMessageTypes.new_signage_point, sp)))
            print(f"sent {index}", flush=True)
            await asyncio.sleep(interval)


if __name__ == "__main__":
    asyncio.run(inject(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]),
                       [int(i) for i in sys.argv[4:]]))
