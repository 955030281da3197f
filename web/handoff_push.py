"""What staff on the hand-off desk say, sent to residents on WeChat (issue 15).

A resident in the widget polls for staff messages (``/webchat/{sender}/messages``); a resident on
WeChat cannot, so the staff service sends them through WeChat's customer-service message API
(``knowledge/wechat_api.py``, the one the WeChat channel uses for the 5-second rule):

- right after staff claim, reply or close (``web/desk.py`` calls ``deliver`` once the change is
  committed): the reply, prefixed 工作人员：, or the notice;
- the sweeper: every ``HANDOFF_SWEEP_SECONDS`` (default 5) each staff-service process expires the
  hand-offs nobody claimed in time (``knowledge.handoff.expire_unclaimed(push=True)``) and sends a
  WeChat resident the 12345 text. Expiry is one atomic update per hand-off, so with several
  processes exactly one sends it.

When WeChat does not take a message (more than 48 hours since the resident's last message, an
unfollowed account, the network), the reason is kept in the transcript as a note for staff
(``knowledge.handoff.add_note``) and shown on the desk; the resident's conversation is unchanged.
Configured by the same variables as the channel: ``WECHAT_APPID``, ``WECHAT_APPSECRET``,
``WECHAT_API_BASE`` and ``REDIS_URL`` (the access token is shared with the channel through it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from aiohttp import web

from knowledge import handoff
from knowledge.wechat_api import WeChatApi, describe
from web.keys import SESSIONMAKER

log = logging.getLogger(__name__)

WECHAT_API = web.AppKey("wechat_api", WeChatApi)
NOT_CONFIGURED = "本服务没有配置公众号的 WECHAT_APPID 和 WECHAT_APPSECRET，消息没有发给微信居民。"


def sweep_seconds() -> float:
    raw = os.environ.get("HANDOFF_SWEEP_SECONDS", "5").strip()
    try:
        return max(0.2, float(raw))
    except ValueError:
        log.error("HANDOFF_SWEEP_SECONDS=%r is not a number; using 5", raw)
        return 5.0


def api_from_env() -> WeChatApi:
    return WeChatApi(
        os.environ.get("WECHAT_API_BASE") or "https://api.weixin.qq.com",
        os.environ.get("WECHAT_APPID", ""),
        os.environ.get("WECHAT_APPSECRET", ""),
        os.environ.get("REDIS_URL") or None,
    )


async def deliver(app: web.Application, *, handoff_id: int, channel: str, sender: str, text: str | None) -> str | None:
    """Send ``text`` to a WeChat resident: None when sent (or nothing to send), else why not (also
    kept in the transcript as a note for staff)."""
    if not text or channel not in handoff.PUSHED_CHANNELS:
        return None
    api = app[WECHAT_API]
    problem = NOT_CONFIGURED if not api.configured else None
    if problem is None:
        errcode = await api.send(sender, text)
        problem = describe(errcode) if errcode else None
    if problem is not None:
        log.warning("hand-off %s: not delivered to WeChat: %s", handoff_id, problem)
        with app[SESSIONMAKER]() as session, session.begin():
            handoff.add_note(session, handoff_id=handoff_id, text=f"未送达微信：{problem}")
    return problem


async def sweep_once(app: web.Application) -> int:
    """Expire unclaimed hand-offs and tell their WeChat residents; how many expired."""
    with app[SESSIONMAKER]() as session, session.begin():
        expired = [(h.id, h.channel, h.sender) for h in handoff.expire_unclaimed(session, push=True)]
    for number, channel, sender in expired:
        await deliver(app, handoff_id=number, channel=channel, sender=sender, text=handoff.TIMED_OUT)
    return len(expired)


async def _sweep_forever(app: web.Application, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await sweep_once(app)
        except Exception:  # a database hiccup: try again next round, never stop sweeping
            log.exception("hand-off sweep failed")


async def pushing(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the WeChat client and the sweeper, for as long as the service runs."""
    app[WECHAT_API] = api_from_env()
    sweeper = asyncio.create_task(_sweep_forever(app, sweep_seconds()))
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    await app[WECHAT_API].close()
