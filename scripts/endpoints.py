"""Print Rasa's endpoints.yml for this environment (``make run`` writes it to var/endpoints.yml).

Rasa 3.6 refuses to start on an unset ``${VAR}`` in endpoints.yml, so the file is composed here:
- ``ACTION_SERVER_URL``  action server webhook (default http://localhost:$ACTION_PORT/webhook, port 5055;
  ``make run`` starts the action server on ``ACTION_PORT``, so moving it needs no second setting);
- ``TRACKER_STORE_URL``  where conversations live, so they survive restarts:
  ``sqlite:///var/tracker.sqlite3`` (default, embedded) or ``postgresql://user:pass@host:5432/db``;
- ``TRACKER_CACHE_EVENTS``  events each Rasa worker keeps of recent conversations in memory
  (bot/tracker_cache.py; default 50000, about 140 MB; 0 = off);
- ``REDIS_URL``          e.g. ``redis://127.0.0.1:6379/0``: the conversation lock in Redis
  (bot/lock_store.py), needed for several Sanic workers or replicas (without it: one worker and
  an in-memory lock).
Standard library only: it runs in either environment.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import unquote, urlsplit

DEFAULT_TRACKER_STORE = "sqlite:///var/tracker.sqlite3"
# Rasa's SQLTrackerStore without a disk wait per turn (bot/rasa_speedups.py) and with a
# per-worker, version-checked cache of conversations (bot/tracker_cache.py).
TRACKER_STORE = "bot.tracker_cache.CachedSQLTrackerStore"
IN_MEMORY_LOCK_STORE = "bot.lock_store.SignallingInMemoryLockStore"


def tracker_store(url: str, cache_events: str | None = None) -> dict[str, object]:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    store: dict[str, object] = {"type": TRACKER_STORE}
    if cache_events:
        if not cache_events.isdigit():
            raise SystemExit(f"TRACKER_CACHE_EVENTS: a number of events, not {cache_events!r}")
        store["cache_events"] = int(cache_events)
    if scheme == "sqlite":
        return {**store, "dialect": "sqlite", "db": url.split(":///", 1)[1]}
    if scheme in ("postgresql", "postgres"):
        store |= {
            "dialect": "postgresql",
            "url": parts.hostname or "localhost",
            "port": parts.port or 5432,
            "db": parts.path.lstrip("/") or "rasa",
            "login_db": "postgres",  # Rasa creates `db` through it when missing
        }
        if parts.username:
            store["username"] = unquote(parts.username)
        if parts.password:
            store["password"] = unquote(parts.password)
        return store
    raise SystemExit(f"TRACKER_STORE_URL: unsupported scheme {parts.scheme!r} (use sqlite:/// or postgresql://)")


def lock_store(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise SystemExit(f"REDIS_URL: unsupported scheme {parts.scheme!r} (use redis://host:6379/0)")
    store: dict[str, object] = {
        "type": "bot.lock_store.AtomicRedisLockStore",  # Rasa's, with atomic ticket changes
        "url": parts.hostname or "localhost",
        "port": parts.port or 6379,
        "db": int(parts.path.lstrip("/") or 0),
        "key_prefix": "hangzhou",
        "use_ssl": parts.scheme == "rediss",
    }
    if parts.password:
        store["password"] = unquote(parts.password)
    return store


def endpoints(env: dict[str, str]) -> str:
    action_url = env.get("ACTION_SERVER_URL") or f"http://localhost:{env.get('ACTION_PORT') or 5055}/webhook"
    config: dict[str, object] = {
        "action_endpoint": {"url": action_url},
        "tracker_store": tracker_store(
            env.get("TRACKER_STORE_URL") or DEFAULT_TRACKER_STORE, env.get("TRACKER_CACHE_EVENTS")
        ),
    }
    # The conversation lock (bot/lock_store.py): in Redis for several workers, else in memory.
    config["lock_store"] = lock_store(env["REDIS_URL"]) if env.get("REDIS_URL") else {"type": IN_MEMORY_LOCK_STORE}
    # JSON is YAML: no quoting pitfalls for passwords with ':' or '#'.
    return "# written by scripts/endpoints.py from the environment; do not edit\n" + "\n".join(
        f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in config.items()
    )


if __name__ == "__main__":
    sys.stdout.write(endpoints(dict(os.environ)) + "\n")
