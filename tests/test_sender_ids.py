"""On the real stack: a REST sender id that is personal data never becomes a conversation id.

Issue 12: an ID number used as the sender id was stored unmasked as the conversation id. The
REST channel now replaces such a sender by ``anon-`` + a keyed hash (``pseudonymous_sender``)
before rate limiting and Rasa; ordinary sender ids are kept. The tracker store (SQLite in the
workdir) and every log file are read back byte for byte.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
import uuid

import pytest

from knowledge import privacy
from knowledge.privacy import pseudonymous_sender
from tests.stack import Stack, said

pytestmark = pytest.mark.e2e


def new_id_number() -> str:
    body = f"330106199{random.randint(0, 9)}0101{random.randint(100, 999)}"
    total = sum(int(d) * w for d, w in zip(body, privacy._ID_WEIGHTS, strict=True))
    return body + privacy._ID_CHECK[total % 11]


def user_events(stack: Stack) -> list[tuple[str, str]]:
    with sqlite3.connect(stack.workdir / "tracker.sqlite3") as db:
        rows = db.execute("SELECT sender_id, data FROM events WHERE type_name = 'user'").fetchall()
    return [(sender, json.loads(data)["text"]) for sender, data in rows]


def test_an_id_number_as_sender_id_is_replaced_by_a_keyed_hash(stack: Stack):
    id_number = new_id_number()
    phone = f"139.{random.randint(1000, 9999)}.{random.randint(1000, 9999)}"
    email = f"resident{uuid.uuid4().hex[:6]}@163.com"
    plain = f"resident-{uuid.uuid4().hex[:10]}"
    expected = pseudonymous_sender(id_number)  # the same key file (var/) or SENDER_HASH_KEY as the stack
    assert expected.startswith("anon-")

    first = stack.ask(id_number, "加装电梯怎么申请")
    second = stack.ask(id_number, "要多少钱")
    assert "来源" in said(first) and said(second)
    assert {r["recipient_id"] for r in first + second} == {expected}
    stack.ask(phone, "托位有多少")
    stack.ask(email, "蓝领公寓怎么申请")
    plain_reply = stack.ask(plain, "积分落户")
    assert {r["recipient_id"] for r in plain_reply} == {plain}  # ordinary sender ids are kept

    events = user_events(stack)
    senders = {sender for sender, _ in events}
    # one conversation for the resident, under the hash, holding both messages
    assert [text for sender, text in events if sender == expected] == ["加装电梯怎么申请", "要多少钱"]
    assert pseudonymous_sender(phone) in senders and pseudonymous_sender(email) in senders
    assert plain in senders
    time.sleep(1)  # let the logs flush
    stored = b"\n".join(p.read_bytes() for p in stack.workdir.iterdir() if p.is_file())
    for secret in (id_number, phone, email, id_number[:17]):
        assert secret.encode() not in stored, f"{secret} was stored"
