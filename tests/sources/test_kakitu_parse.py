"""Pure Kakitu parsing: fixture frames, confirmation fields, amounts, subscribe messages."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from alertbot.sources.base import coerce
from alertbot.sources.kakitu import (
    SPECS,
    KakituSettings,
    parse_frame,
    raw_to_kshs,
    subscribe_message,
    topic_options,
    update_message,
)


def _frames(shared_dir: Path) -> list[object]:
    path = shared_dir / "fixtures" / "kakitu" / "nano_docs_ws_server_frames.jsonl"
    frames: list[object] = [json.loads(x) for x in path.read_text().splitlines() if x]
    inner = shared_dir / "fixtures" / "kakitu" / "nano_docs_ws_work_inner_messages.jsonl"
    frames += [{"topic": "work", "time": "1", "message": json.loads(x)}
               for x in inner.read_text().splitlines() if x]
    return frames


def test_every_fixture_frame_parses_or_is_reported(shared_dir: Path) -> None:
    """Each frame yields typed events of a declared type, or kind 'other' with a note."""
    kinds = []
    for frame in _frames(shared_dir):
        parsed = parse_frame(frame)
        kinds.append(parsed.kind)
        if parsed.kind == "other":
            assert parsed.note
            continue
        for etype, data in parsed.events:
            spec = SPECS[etype].fields
            assert set(data) <= set(spec), set(data) - set(spec)
            for key, value in data.items():
                assert coerce(spec[key], value) == value
    assert kinds.count("topic") == 10 and kinds.count("other") == 1  # active_difficulty


def test_confirmation_send_fields(shared_dir: Path) -> None:
    """A send confirmation names the destination, its own hash as send_hash, KSHS amount."""
    parsed = parse_frame(_frames(shared_dir)[0])
    (etype, data), = parsed.events
    assert etype == "confirmation" and data["subtype"] == "send"
    assert data["to_account"].startswith("nano_1e6rym1f5p7")
    assert data["send_hash"] == data["hash"]
    assert data["from_account"] == data["account"]
    assert data["amount"] == Decimal("0.015621963968634827029081574961")
    assert data["amount_raw"] == "15621963968634827029081574961"
    assert data["election_info_voters"] == 52 and data["node_time"] == 1564935350664


def test_confirmation_receive_fields() -> None:
    """A receive pockets the send named by its link: send_hash = link, to_account = own."""
    frame = {"topic": "confirmation", "time": "5", "message": {
        "account": "kshs_a", "amount": "1000000000000000000000000000000", "hash": "ab",
        "confirmation_type": "active_quorum",
        "block": {"type": "state", "account": "kshs_a", "balance": "7", "link": "cd",
                  "link_as_account": "kshs_junk", "subtype": "receive"}}}
    (_, data), = parse_frame(frame).events
    assert data["send_hash"] == "CD" and data["to_account"] == "kshs_a"
    assert "from_account" not in data and data["amount"] == Decimal(1)


def test_amount_is_exact_up_to_2_128() -> None:
    """raw → KSHS keeps every digit of the largest raw amount."""
    top = 2**128 - 1
    value = raw_to_kshs(str(top))
    # compare digits: Decimal arithmetic under the default 28-digit context would round
    assert str(value) == "340282366.920938463463374607431768211455"
    assert int(str(value).replace(".", "")) == top
    with pytest.raises(ValueError):
        raw_to_kshs(str(top + 1))


@pytest.mark.parametrize("obj", [[], "x", {"ack": "pong"}, {"topic": "vote"},
                                 {"topic": "confirmation", "message": {"amount": "-1"}}])
def test_odd_frames_never_raise(obj: object) -> None:
    """Non-topic or malformed frames come back as ack/other, never an exception."""
    assert parse_frame(obj).kind in ("ack", "other")


def test_subscribe_confirmation_always_has_options() -> None:
    """Confirmation is subscribed with ack, id and an accounts list so update works later."""
    msg = subscribe_message("confirmation", {"include_election_info": True}, ["kshs_b"])
    assert msg["ack"] is True and msg["id"] == "confirmation"
    assert msg["options"]["accounts"] == ["kshs_b"]
    assert msg["options"]["include_election_info"] is True
    assert "options" not in subscribe_message("stopped_election", {})
    unfiltered = subscribe_message("confirmation", {})
    assert unfiltered["options"] == {"include_block": True}   # [] would deliver nothing


def test_update_message_shape() -> None:
    """update carries accounts_add / accounts_del and asks for an ack."""
    msg = update_message(["kshs_b"], ["kshs_a"])
    assert msg["action"] == "update" and msg["ack"] is True
    assert msg["options"] == {"accounts_add": ["kshs_b"], "accounts_del": ["kshs_a"]}


def test_topics_as_list_or_map() -> None:
    """Topics accept a list or a map with per-topic options; unknown names are refused."""
    assert topic_options(["vote"]) == {"vote": {}}
    s = KakituSettings(kind="kakitu", topics={"vote": {"include_replays": True},
                                              "telemetry": None})
    assert topic_options(s.topics)["vote"] == {"include_replays": True}
    with pytest.raises(ValueError, match="active_difficulty"):
        KakituSettings(kind="kakitu", topics=["active_difficulty"])
    with pytest.raises(ValueError, match="no option"):
        KakituSettings(kind="kakitu", topics={"vote": {"acounts": []}})


def test_work_flattened_with_top_level_difficulty(shared_dir: Path) -> None:
    """work: nested request/result keys joined with `_`; difficulty = achieved one."""
    work = [parse_frame(f).events[0][1] for f in _frames(shared_dir)
            if isinstance(f, dict) and f.get("topic") == "work"]
    ok, cancelled = work
    assert ok["success"] is True and ok["result_source"] == "192.168.1.101:7000"
    assert ok["difficulty"] == "ffffffd2ca03b921" and ok["bad_peers"] == []
    assert cancelled["success"] is False and cancelled["difficulty"] == "ffffff999999999a"
    assert cancelled["bad_peers"] == ["192.168.1.101:7000"]
