"""Fixed-window rate limits, shared by every worker and replica when Redis is configured.

Used by the staff service (login, feedback) and by Rasa's resident channels (per sender, per IP),
so it lives in the ground-floor package ``knowledge``: ``bot`` and ``web`` both import it, and
neither has to import the other. It imports nothing of this project, so the Rasa image needs
only this file (and ``knowledge/__init__.py``).

With ``REDIS_URL`` set, the counters live in Redis (``INCR`` + ``EXPIRE`` in one round trip), so
several Sanic workers or Kubernetes replicas enforce one limit together; without it they live in
this process (the embedded default: one worker). If Redis is unreachable the limiter lets messages
through and logs it: a resident is never refused because the limiter itself is down.

This module must stay importable from both environments (Rasa's: redis 4.6; the app's: redis 8).
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)


def limit_from_env(name: str, default: str) -> tuple[int, int]:
    """``"20/60"`` -> at most 20 per 60 seconds. ``0/...`` switches the limit off."""
    raw = os.environ.get(name, default)
    try:
        count, seconds = (int(part) for part in raw.split("/", 1))
        if count < 0 or seconds <= 0:
            raise ValueError
    except ValueError:
        log.error("%s=%r is not of the form COUNT/SECONDS; using %s", name, raw, default)
        count, seconds = (int(part) for part in default.split("/", 1))
    return count, seconds


def connect_redis(url: str):  # type: ignore[no-untyped-def]
    """An asyncio Redis client with short timeouts: a Redis that is down costs a resident milliseconds."""
    from redis import asyncio as redis_asyncio

    return redis_asyncio.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


class RateLimiter:
    def __init__(self, *, name: str, limit: int, per_seconds: int, redis_url: str | None = None) -> None:
        self.name, self.limit, self.per_seconds = name, limit, per_seconds
        self.redis_url = redis_url if redis_url is not None else os.environ.get("REDIS_URL") or None
        self._redis = None  # created on first use, inside the serving event loop
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window, count), when no Redis

    async def allow(self, key: str) -> bool:
        if self.limit == 0:
            return True
        window = int(time.time()) // self.per_seconds
        if self.redis_url:
            count = await self._count_in_redis(f"ratelimit:{self.name}:{key}:{window}")
            if count is not None:
                return count <= self.limit
        return self._count_here(key, window) <= self.limit

    async def _count_in_redis(self, key: str) -> int | None:
        try:
            if self._redis is None:
                self._redis = connect_redis(self.redis_url)
            async with self._redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(key).expire(key, self.per_seconds + 1).execute()
            return int(count)
        except Exception as exc:  # Redis down: limit locally rather than refuse residents
            log.warning("rate limiter %s: Redis unavailable (%s); counting in this process", self.name, exc)
            return None

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.connection_pool.disconnect()
            self._redis = None

    def _count_here(self, key: str, window: int) -> int:
        seen_window, count = self._counts.get(key, (window, 0))
        count = count + 1 if seen_window == window else 1
        self._counts[key] = (window, count)
        if len(self._counts) > 50_000:  # forget clients of past windows
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        return count
