"""bot/tracker_cache.py: the per-worker conversation cache returns what Rasa's own SQL tracker store
would read, on SQLite and PostgreSQL, and two workers taking turns on one conversation lose nothing."""

from __future__ import annotations

import json
import textwrap

import pytest

from knowledge.build import build
from tests.stack import Postgres, plain_postgres_url, said
from tests.test_prod_mode import assert_stored_and_answered, prod_stack
from tests.test_rasa_speedups import run_in_rasa_env

# A conversation as Rasa's processor writes it, turn by turn: retrieve, add the turn's events, save.
CONVERSATION = """
import asyncio, json, time
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered,
)
from rasa.shared.core.trackers import EventVerbosity
from bot.tracker_cache import CachedSQLTrackerStore

DOMAIN = Domain.load("domain.yml")


def store(url, **kwargs):
    return CachedSQLTrackerStore(domain=DOMAIN, host=url, **kwargs)


def stock(url):
    return SQLTrackerStore(domain=DOMAIN, host=url)


def user(text, intent="ask_hukou"):
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.91},
             "entities": [{"entity": "district", "value": "西湖区", "start": 0, "end": 3}],
             "intent_ranking": [{"name": intent, "confidence": 0.91}, {"name": "greet", "confidence": 0.02}]}
    return UserUttered(text, parse["intent"], parse["entities"], parse, input_channel="rest")


SEEN = []  # per turn: did the worker get what Rasa's own store reads from the database?


async def turn(worker, sender, text, n, new_session=False, reference=None):
    tracker = await worker.get_or_create_tracker(sender, append_action_listen=False)
    if reference is not None and tracker.events:
        SEEN.append(view(tracker) == view(await reference.retrieve(sender)))
    tracker.model_id = "model-1"  # as the processor sets them on every tracker it gets
    tracker.assistant_id = "hangzhou-citizen-assistant"
    if new_session or not tracker.events:
        tracker.update(ActionExecuted("action_session_start"))
        tracker.update(SessionStarted())
        tracker.update(SlotSet("topic", "hukou"))
        tracker.update(ActionExecuted("action_listen"))
    tracker.update(user(text, "choose_faq" if text.startswith("/") else "ask_hukou"))
    tracker.update(ActionExecuted("action_answer", policy="RulePolicy", confidence=1.0))
    tracker.update(BotUttered(f"答{n}", {"buttons": [{"title": "问", "payload": "/choose_faq"}],
                                          "custom": {"step": "topic_answer", "answer": {"faq_id": n}}}))
    tracker.update(SlotSet("topic", ["elevator", "hukou"][n % 2]))
    tracker.update(ActionExecuted("action_listen"))
    await worker.save(tracker)
    return tracker


def view(tracker):
    return {
        "events": [e.as_dict() for e in tracker.events],
        "state": tracker.current_state(EventVerbosity.ALL),
        "past_states": tracker.past_states(DOMAIN),
    }
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.sqlite3'}"
    return plain_postgres_url(request.getfixturevalue("pg_url"))


def rasa(code: str, tmp_path) -> dict:
    out = run_in_rasa_env(CONVERSATION + textwrap.dedent(code), tmp_path)
    return json.loads(out.strip().splitlines()[-1])


def test_each_turn_gets_what_rasas_own_store_would_read(db_url, tmp_path):
    result = rasa(
        f"""
        async def main():
            cached, reference = store({db_url!r}), stock({db_url!r})
            for n in range(40):
                text = "/choose_faq{{\\"faq_id\\":\\"7\\"}}" if n % 5 == 3 else f"问题{{n}}"
                await turn(cached, "resident-1", text, n, new_session=n == 25, reference=reference)
            print(json.dumps({{"seen": SEEN, "hits": cached.hits, "misses": cached.misses}}))

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert len(result["seen"]) == 39 and all(result["seen"])
    # from the database: the first two turns (a new conversation starts a session) and the turn after
    # the new session; every other turn from the cache
    assert (result["hits"], result["misses"]) == (37, 3)


def two_workers(db_url: str, tmp_path, *, without_version_check: bool = False) -> dict:
    return rasa(
        f"""
        from bot.tracker_cache import CachedSQLTrackerStore, Version
        if {without_version_check!r}:  # the control: a cache that trusts itself
            CachedSQLTrackerStore._version = lambda self, session, sender_id: Version(0, None)

        async def main():
            a, b, reference = store({db_url!r}), store({db_url!r}), stock({db_url!r})
            for n, worker in enumerate("AABABBBAABAB"):
                await turn(a if worker == "A" else b, "resident-2", f"问题{{n}}", n, reference=reference)
            final = await reference.retrieve("resident-2")
            texts = [e.text for e in final.events if e.type_name == "user"]
            print(json.dumps({{"texts": texts, "seen": SEEN, "hits": [a.hits, b.hits]}}))

        asyncio.run(main())
        """,
        tmp_path,
    )


def test_two_workers_taking_turns_on_one_conversation_lose_no_event(db_url, tmp_path):
    result = two_workers(db_url, tmp_path)
    assert result["texts"] == [f"问题{n}" for n in range(12)]  # every message once, in order
    assert all(result["seen"])  # each turn saw the other worker's turns
    assert min(result["hits"]) >= 1  # each worker used its cache where it had the latest turn
    control = two_workers(db_url, tmp_path, without_version_check=True)
    assert control["texts"] != result["texts"]  # without the check, a worker's stale copy loses turns


def test_a_tracker_changed_after_its_save_is_read_again_and_the_cache_is_bounded(tmp_path):
    result = rasa(
        f"""
        async def main():
            url = "sqlite:///{tmp_path}/t.sqlite3"
            cached, reference = store(url, cache_events=30), stock(url)
            for n in range(3):
                tracker = await turn(cached, "changed", f"问题{{n}}", n)
            tracker.update(user("没保存的消息"))  # changed but never saved: not handed out again
            again = await cached.get_or_create_tracker("changed", append_action_listen=False)
            changed = [again is tracker, view(again) == view(await reference.retrieve("changed"))]
            await cached.save(again)
            for sender in ("x", "y", "z"):  # 3 conversations of 13 events each in a cache of 30 events
                for n in range(2):
                    await turn(cached, sender, f"问题{{n}}", n)
            kept = {{s: k.length for s, k in cached._kept.items()}}
            off = store(url, cache_events=0)
            for n in range(3):
                await turn(off, "off", f"问题{{n}}", n)
            print(json.dumps({{"changed": changed, "kept": kept, "off": [off.hits, len(off._kept)]}}))

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert result["changed"] == [False, True]
    assert sum(result["kept"].values()) <= 30 and list(result["kept"])[-1] == "z"  # least recent dropped first
    assert "changed" not in result["kept"] and "x" not in result["kept"]
    assert result["off"] == [0, 0]


def test_the_cache_size_comes_from_the_environment():
    from tests.test_endpoints import endpoints

    assert endpoints()["tracker_store"]["type"] == "bot.tracker_cache.CachedSQLTrackerStore"
    assert "cache_events" not in endpoints()["tracker_store"]  # the store's default
    assert endpoints(TRACKER_CACHE_EVENTS="0")["tracker_store"]["cache_events"] == 0
    assert endpoints(TRACKER_CACHE_EVENTS="1000")["tracker_store"]["cache_events"] == 1000


@pytest.fixture
def prod_databases():
    """A throw-away knowledge base and tracker-store database on PostgreSQL."""
    with Postgres() as postgres:
        kb_url = postgres.create("cache_kb")
        build(url=kb_url)
        yield kb_url, plain_postgres_url(postgres.create("cache_tracker"))


@pytest.mark.e2e
def test_two_rasa_workers_with_the_redis_lock_keep_every_turn_of_a_long_conversation(tmp_path, prod_databases):
    """Production mode: 2 Rasa workers (each with its own cache), Redis lock, PostgreSQL. One resident
    asks 24 questions one after another, each on a new connection, so the kernel spreads them over
    the two workers; every turn is stored once, in order, answered, and follow-ups keep their context."""
    topics = ["加装电梯怎么申请", "托位怎么预约", "积分落户怎么申请", "蓝领公寓怎么申请"]
    questions = [f"{topics[i % 4]}（第{i + 1}问）" for i in range(24)]
    with prod_stack(tmp_path, prod_databases, rasa_workers=2, RATE_LIMIT_PER_SENDER="0/60") as stack:
        sender = "long-conversation"
        replies = [said(stack.ask(sender, question)) for question in questions]
        assert_stored_and_answered(stack, sender, questions, replies)
        follow_up = said(stack.ask(sender, "那申请条件呢"))  # after a question on 蓝领公寓
        assert "来源" in follow_up and "蓝领公寓" in follow_up
