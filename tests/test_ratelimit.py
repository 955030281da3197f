"""knowledge/ratelimit.py against the real Redis on 127.0.0.1 (what several workers and replicas share)."""

import uuid

import pytest

from knowledge.ratelimit import RateLimiter, limit_from_env

REDIS_URL = "redis://127.0.0.1:6379/1"


async def test_two_workers_share_one_limit_through_redis():
    name = f"test-{uuid.uuid4().hex[:8]}"
    worker_a = RateLimiter(name=name, limit=3, per_seconds=60, redis_url=REDIS_URL)
    worker_b = RateLimiter(name=name, limit=3, per_seconds=60, redis_url=REDIS_URL)
    allowed = [await worker_a.allow("1.2.3.4"), await worker_b.allow("1.2.3.4"), await worker_a.allow("1.2.3.4")]
    assert allowed == [True, True, True]
    assert not await worker_b.allow("1.2.3.4")  # the fourth in this window, whichever worker counts it
    assert await worker_b.allow("5.6.7.8")  # another client is not affected
    await worker_a.close()
    await worker_b.close()


async def test_without_redis_each_process_counts_for_itself():
    worker_a = RateLimiter(name="local", limit=2, per_seconds=60, redis_url="")
    worker_b = RateLimiter(name="local", limit=2, per_seconds=60, redis_url="")
    assert [await worker_a.allow("k") for _ in range(3)] == [True, True, False]
    assert await worker_b.allow("k")


async def test_redis_down_falls_back_to_counting_here(caplog):
    limiter = RateLimiter(name="down", limit=1, per_seconds=60, redis_url="redis://127.0.0.1:1/0")
    assert await limiter.allow("k") and not await limiter.allow("k")
    assert "Redis unavailable" in caplog.text
    await limiter.close()


async def test_limit_zero_switches_it_off():
    limiter = RateLimiter(name="off", limit=0, per_seconds=60, redis_url="")
    assert all([await limiter.allow("k") for _ in range(100)])


@pytest.mark.parametrize(
    ("raw", "expected"), [("5/10", (5, 10)), ("0/60", (0, 60)), ("x", (20, 60)), ("3/0", (20, 60))]
)
def test_limits_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("RATE_LIMIT_TEST", raw)
    assert limit_from_env("RATE_LIMIT_TEST", "20/60") == expected


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(monkeypatch):
    from aiohttp.test_utils import make_mocked_request

    from web.api import client_address

    request = make_mocked_request("POST", "/api/v1/feedback", headers={"X-Forwarded-For": "spoofed, 203.0.113.7"})
    assert client_address(request) != "203.0.113.7"  # not trusted unless configured
    monkeypatch.setenv("WEB_PROXIES_COUNT", "1")
    assert client_address(request) == "203.0.113.7"  # the address our one proxy saw, not the spoofable one
