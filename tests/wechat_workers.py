"""Several WeChat channel objects in one process, as several Rasa workers would run them.

Run by ``tests/test_wechat.py`` with Rasa's Python (the channel imports Rasa):
``.venv/rasa/bin/python -m tests.wechat_workers REDIS_URL``. Each channel is served by its own real
Sanic server on a free port; a recording coroutine stands in for Rasa's ``on_new_message`` so that
the test can count how often each resident's message was processed. Prints one JSON object with
what was observed; the assertions are in the test.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import socket
import sys
import time
import uuid
from typing import Any

import aiohttp
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.wechat import WeChatConfig, WeChatInput

TOKEN = "hz-workers-token"
ACCOUNT = "gh_workers_test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed() -> dict[str, str]:
    ts, nonce = str(int(time.time())), str(random.randrange(10**8, 10**9))
    return {
        "timestamp": ts,
        "nonce": nonce,
        "signature": hashlib.sha1("".join(sorted([TOKEN, ts, nonce])).encode()).hexdigest(),
    }


def text_xml(user: str, content: str, msg_id: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


class FakeRasa:
    """Records every message handed to Rasa and answers "答复：<text>" after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, message: UserMessage) -> None:
        self.seen.append((message.sender_id, message.text or ""))
        await asyncio.sleep(self.delay)
        await message.output_channel.send_text_message(message.sender_id, f"答复：{message.text}")

    def count(self, user: str) -> int:
        return sum(1 for sender, _ in self.seen if sender == user)


async def serve(channel: WeChatInput, rasa: FakeRasa) -> tuple[str, Any]:
    Sanic.test_mode = True  # lets Sanic 21.12 start several apps in one process (its TouchUp step)
    app = Sanic(f"wechat_worker_{uuid.uuid4().hex[:8]}", configure_logging=False)
    app.blueprint(channel.blueprint(rasa), url_prefix="/webhooks/wechat")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    return f"http://127.0.0.1:{port}/webhooks/wechat/webhook", server


def channel(redis_url: str | None, mode: str = "compat", aes_key: str = "") -> WeChatInput:
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    config = WeChatConfig(token=TOKEN, appid="wxworkers", aes_key=aes_key, reply_timeout=4.0, mode=mode)
    return WeChatInput(config)


async def post(session: aiohttp.ClientSession, url: str, xml: str) -> dict[str, Any]:
    async with session.post(url, params=signed(), data=xml.encode()) as resp:
        body = await resp.text()
    content = body.split("<Content><![CDATA[", 1)[1].split("]]>", 1)[0] if "<Content>" in body else body
    return {"status": resp.status, "content": content}


async def main(redis_url: str) -> dict[str, Any]:
    os.environ["RATE_LIMIT_PER_SENDER"] = "0/60"
    out: dict[str, Any] = {}
    slow_rasa = FakeRasa(delay=1.0)  # both workers share one "Rasa": what matters is how often it is asked
    workers = [await serve(channel(redis_url), slow_rasa) for _ in range(2)]
    (url1, _), (url2, _) = workers
    fast_rasa = FakeRasa()
    down = [await serve(channel("redis://127.0.0.1:1/5"), fast_rasa)]  # nothing listens on port 1
    aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    modes = {
        mode: await serve(channel(None, mode, aes_key if mode != "plain" else ""), fast_rasa)
        for mode in ("plain", "compat", "safe")
    }
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        # A retry reaching the second worker after the first answered.
        user = f"oRetry{uuid.uuid4().hex[:12]}"
        xml = text_xml(user, "蓝领公寓", "7100000000000000001")
        first = await post(session, url1, xml)
        retry = await post(session, url2, xml)
        out["sequential"] = {"first": first, "retry": retry, "processed": slow_rasa.count(user)}

        # The retry arrives at the second worker while the first is still answering.
        user = f"oRace{uuid.uuid4().hex[:12]}"
        xml = text_xml(user, "加装电梯", "7100000000000000002")
        both = await asyncio.gather(post(session, url1, xml), post(session, url2, xml))
        out["concurrent"] = {"replies": list(both), "processed": slow_rasa.count(user)}

        # Two residents whose messages carry the same MsgId.
        alice, bob = f"oAlice{uuid.uuid4().hex[:12]}", f"oBob{uuid.uuid4().hex[:12]}"
        same_id = "7100000000000000003"
        a = await post(session, url1, text_xml(alice, "托育", same_id))
        b = await post(session, url1, text_xml(bob, "积分落户", same_id))
        out["same_msg_id"] = {
            "alice": a,
            "bob": b,
            "processed": [slow_rasa.count(alice), slow_rasa.count(bob)],
        }

        # Redis down: answered in the worker, and a retry to that worker is still not processed twice.
        user = f"oDown{uuid.uuid4().hex[:12]}"
        xml = text_xml(user, "共有产权房", "7100000000000000004")
        out["redis_down"] = {
            "first": await post(session, down[0][0], xml),
            "retry": await post(session, down[0][0], xml),
            "processed": fast_rasa.count(user),
        }

        # Each mode with a plaintext body signed only in the URL.
        out["modes"] = {}
        for mode, (url, _) in modes.items():
            user = f"oMode{uuid.uuid4().hex[:12]}"
            reply = await post(session, url, text_xml(user, "人才租房", str(random.randrange(10**15, 10**16))))
            out["modes"][mode] = {**reply, "processed": fast_rasa.count(user)}
    for _, server in [*workers, *down, *modes.values()]:
        await server.before_stop()
        server.close()
        await server.wait_closed()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1])), ensure_ascii=False))
