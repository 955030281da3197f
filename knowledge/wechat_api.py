"""WeChat's customer-service message API (客服消息): ``cgi-bin/token`` and ``cgi-bin/message/custom/send``.

Two users, so no Rasa import here:
- the WeChat channel (``bot/channels/wechat.py``, Rasa environment) sends an answer that took
  longer than WeChat's 5 seconds;
- the staff service (``web/handoff_push.py``, app environment) sends what staff on the hand-off
  desk say to a WeChat resident, and the desk's notices (claimed, closed, nobody came: 12345).

The access token is cached until shortly before it expires. WeChat issues one token per account at
a time (a new one retires the old after a few minutes, and fetching is limited per day), so with
``REDIS_URL`` every process (Rasa workers, staff-service workers) shares the one in Redis; without
Redis each process fetches its own. On errcode 40001/40014/42001 the token is fetched again and
the message sent once more. WeChat accepts customer-service messages only within 48 hours of the
resident's last message (errcode 45015 after that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from knowledge.ratelimit import connect_redis
from knowledge.wechat_protocol import split_text

logger = logging.getLogger(__name__)

NETWORK_ERROR = -1
OUT_OF_WINDOW = 45015  # "response out of time limit or subscription is canceled"
NOT_FOLLOWING = 43004  # "require subscribe": the resident unfollowed the account
ERRORS = {
    OUT_OF_WINDOW: "居民超过48小时没有给公众号发消息（或已取消关注），微信不再允许给他发客服消息。",
    NOT_FOLLOWING: "居民已取消关注公众号，微信不允许再给他发消息。",
    NETWORK_ERROR: "暂时连不上微信服务器。",
    45047: "居民长时间没有回复，微信暂时不允许继续发送客服消息。",
    45002: "消息太长，微信拒收。",
}


def describe(errcode: int) -> str:
    """A Chinese sentence for staff: why WeChat did not take a message."""
    return ERRORS.get(errcode, f"微信拒收了这条消息（错误码 {errcode}）。")


class WeChatApi:
    """access_token (cached, shared through Redis when given) and message/custom/send."""

    EXPIRED = frozenset({40001, 40014, 42001})

    def __init__(self, base: str, appid: str, secret: str, redis_url: str | None = None) -> None:
        self.base, self.appid, self.secret = base.rstrip("/"), appid, secret
        self.redis_url = redis_url
        self._redis: Any = None
        self._token: str | None = None
        self._expires = 0.0
        self._lock: asyncio.Lock | None = None

    @property
    def configured(self) -> bool:
        return bool(self.appid and self.secret)

    def _key(self) -> str:
        return f"wechat:token:{self.appid}"

    async def _shared(self) -> str | None:
        if not self.redis_url:
            return None
        try:
            if self._redis is None:
                self._redis = connect_redis(self.redis_url)
            raw = await self._redis.get(self._key())
            return raw.decode() if isinstance(raw, bytes) else raw
        except Exception as exc:
            logger.warning("WeChat token: Redis unavailable (%s); using this process's own", exc)
            return None

    async def _share(self, token: str, seconds: float) -> None:
        if not self.redis_url:
            return
        try:
            if self._redis is None:
                self._redis = connect_redis(self.redis_url)
            await self._redis.set(self._key(), token, ex=max(1, int(seconds)))
        except Exception as exc:
            logger.warning("WeChat token: Redis unavailable (%s)", exc)

    async def _get_token(self, session: Any, stale: str | None = None) -> str:
        """A usable token; ``stale``: the one WeChat just refused (never returned again)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token and self._token != stale and time.monotonic() < self._expires:
                return self._token
            shared = await self._shared()
            if shared and shared != stale:
                self._token, self._expires = shared, time.monotonic() + 60  # look in Redis again in a minute
                return shared
            params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
            async with session.get(f"{self.base}/cgi-bin/token", params=params) as resp:
                data = await resp.json(content_type=None)
            if not isinstance(data, dict) or not data.get("access_token"):
                errcode = data.get("errcode") if isinstance(data, dict) else "?"
                raise RuntimeError(f"no access_token (errcode {errcode})")
            self._token = str(data["access_token"])
            lifetime = float(data.get("expires_in") or 7200)
            keep = max(lifetime - 300, lifetime / 2)
            self._expires = time.monotonic() + keep
            await self._share(self._token, keep)
            return self._token

    async def send(self, openid: str, content: str) -> int:
        """Send ``content`` (split within the text limit): 0 when WeChat took every part, else the
        first errcode (``NETWORK_ERROR`` for no answer). Never raises."""
        import aiohttp

        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                for part in split_text(content):
                    payload = {"touser": openid, "msgtype": "text", "text": {"content": part}}
                    stale = None
                    for attempt in (1, 2):
                        token = await self._get_token(session, stale=stale)
                        async with session.post(
                            f"{self.base}/cgi-bin/message/custom/send", params={"access_token": token}, json=payload
                        ) as resp:
                            data = await resp.json(content_type=None)
                        errcode = int(data.get("errcode", 0)) if isinstance(data, dict) else NETWORK_ERROR
                        if errcode == 0:
                            break
                        if errcode in self.EXPIRED and attempt == 1:
                            logger.info("WeChat access_token expired (errcode %s), refreshing", errcode)
                            stale = token
                            continue
                        logger.error("WeChat custom/send failed: errcode %s", errcode)
                        return errcode
            return 0
        except Exception as e:  # network, JSON, token: logged, never raised into the caller
            logger.error("WeChat custom/send failed: %s: %s", type(e).__name__, e)
            return NETWORK_ERROR

    async def send_text(self, openid: str, content: str) -> bool:
        """True when every part was accepted. Never raises."""
        return await self.send(openid, content) == 0

    async def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):  # already gone
                await self._redis.connection_pool.disconnect()
            self._redis = None
