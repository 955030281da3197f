"""scripts/endpoints.py: Rasa's endpoints from the environment (embedded default and production)."""

import subprocess
import sys

import yaml

from knowledge.settings import PROJECT_ROOT


def endpoints(**env: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "endpoints.py")],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return yaml.safe_load(out)


def test_embedded_default_keeps_conversations_in_sqlite_with_an_in_memory_lock():
    config = endpoints()
    assert config["action_endpoint"] == {"url": "http://localhost:5055/webhook"}
    assert config["tracker_store"] == {
        "type": "bot.tracker_cache.CachedSQLTrackerStore", "dialect": "sqlite", "db": "var/tracker.sqlite3"
    }  # fmt: skip
    assert config["lock_store"] == {"type": "bot.lock_store.SignallingInMemoryLockStore"}


def test_production_uses_postgresql_and_the_redis_lock_store():
    config = endpoints(
        TRACKER_STORE_URL="postgresql://rasa:p%40ss%3Aw%23rd@db.internal:5433/conversations",
        REDIS_URL="redis://:secret@redis.internal:6380/2",
        ACTION_SERVER_URL="http://actions:5055/webhook",
    )
    expected = {"type": "bot.tracker_cache.CachedSQLTrackerStore", "dialect": "postgresql", "url": "db.internal"}
    expected |= {"port": 5433, "db": "conversations", "login_db": "postgres"}
    expected |= {"username": "rasa", "password": "p@ss:w#rd"}
    assert config["tracker_store"] == expected
    assert config["lock_store"]["type"] == "bot.lock_store.AtomicRedisLockStore"
    assert (config["lock_store"]["url"], config["lock_store"]["port"], config["lock_store"]["db"]) == (
        "redis.internal", 6380, 2)  # fmt: skip
    assert config["lock_store"]["password"] == "secret"
    assert config["action_endpoint"]["url"] == "http://actions:5055/webhook"


def test_unsupported_urls_are_refused_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "endpoints.py")],
        env={"TRACKER_STORE_URL": "mongodb://x/y"}, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "TRACKER_STORE_URL" in result.stderr


def test_the_action_server_moved_with_action_port_is_the_one_rasa_calls():
    # make run starts the action server on ACTION_PORT; Rasa must call it there, not on 5055.
    assert endpoints(ACTION_PORT="5155")["action_endpoint"] == {"url": "http://localhost:5155/webhook"}
