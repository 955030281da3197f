"""WeChat Official Account (公众号) channel for Rasa: ``/webhooks/wechat/webhook``.

Speaks WeChat's callback protocol: URL verification (GET), plain and safe-mode (AES) messages
(POST), one passive XML reply per message, and the customer-service API when the bot needs more
than ``WECHAT_REPLY_TIMEOUT`` seconds (WeChat gives up after 5 s). Configured from the
environment (see ``WeChatConfig.from_env``); with ``WECHAT_TOKEN`` unset the endpoint answers 503.

The URL signature covers only token, timestamp and nonce, not the body: whoever sees one callback
URL (an access log, a proxy) can post any plaintext body with it for 300 s. So in safe mode
(``WECHAT_MODE=safe``, the default when ``WECHAT_AES_KEY`` is set) only encrypted messages, whose
``msg_signature`` covers the ciphertext, are accepted. WeChat retries a message it got no answer to;
retries are recognised by (FromUserName, MsgId) and, with ``REDIS_URL``, across workers and replicas.

Signatures, AES and XML are implemented here with ``cryptography`` and the standard library
(see the README, "WeChat", for why not wechatpy).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.guard import SORRY, TOO_FAST, screen
from knowledge.privacy import install_log_masking
from knowledge.ratelimit import RateLimiter, connect_redis, limit_from_env
from knowledge.wechat_api import WeChatApi
from knowledge.wechat_protocol import (
    NO_ANSWER,
    BadXml,
    CryptoError,
    aes_key,
    compose,
    decrypt,
    encrypted_reply_xml,
    fit_text,
    option_number,
    parse_xml,
    signature_ok,
    text_reply_xml,
    timestamp_fresh,
)

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
OPTIONS_TTL = 30 * 60
REPLY_TTL = 10 * 60
# WeChat retries an unanswered message three times, 5 s apart; a shared claim outlives that twice over.
RETRY_WINDOW = 30
MODES = ("plain", "compat", "safe")  # 明文模式, 兼容模式, 安全模式 in WeChat's console

WELCOME = (
    "您好，欢迎关注！我是杭州市民服务助手，可以回答《杭州争当浙江高质量发展建设共同富裕示范区城市范例的"
    "行动计划（2021—2025年）》里的民生问题，例如：老旧小区加装电梯、托育托位、积分落户、"
    "保障性租赁住房、人才专项租赁住房、蓝领公寓、共有产权房等。\n"
    "直接发文字提问即可，比如“蓝领公寓”。每条答复都会注明出处。"
)
UNSUPPORTED = "抱歉，我目前只能看懂文字消息（也支持语音转文字）。请用文字描述您的问题，例如“加装电梯怎么申请”。"
VOICE_UNRECOGNISED = "抱歉，没能听清这条语音。请再说一遍，或者直接发文字。"
BUSY = "抱歉，系统暂时繁忙，请稍后再试。"


# ---------------------------------------------------------------- in-memory state


class TtlCache:
    """A small dict whose entries expire; bounded so a flood cannot exhaust memory."""

    def __init__(self, ttl: float, max_items: int = 20000) -> None:
        self.ttl, self.max_items = ttl, max_items
        self._items: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable) -> Any:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            del self._items[key]
            return None
        return item[1]

    def set(self, key: Hashable, value: Any) -> None:
        now = time.monotonic()
        if len(self._items) >= self.max_items:
            for k in [k for k, (expires, _) in self._items.items() if expires < now]:
                del self._items[k]
            while len(self._items) >= self.max_items:
                del self._items[next(iter(self._items))]
        self._items[key] = (now + self.ttl, value)

    def pop(self, key: Hashable) -> None:
        self._items.pop(key, None)


class SharedOptions:
    """The numbered options last offered to each user: in Redis when ``REDIS_URL`` is set (a reply
    "2" may reach another Rasa worker or replica than the one that offered the options), else here."""

    def __init__(self, ttl: int, redis_url: str | None) -> None:
        self.ttl, self.redis_url = ttl, redis_url
        self.local = TtlCache(ttl)
        self._redis: Any = None

    def _client(self) -> Any:
        if self._redis is None:
            self._redis = connect_redis(self.redis_url)
        return self._redis

    async def get(self, user: str) -> list[dict[str, str]] | None:
        if self.redis_url:
            try:
                raw = await self._client().get(f"wechat:options:{user}")
                return json.loads(raw) if raw else None
            except Exception as exc:
                logger.warning("WeChat options: Redis unavailable (%s)", exc)
        return self.local.get(user)

    async def set(self, user: str, options: list[dict[str, str]] | None) -> None:
        if self.redis_url:
            try:
                key = f"wechat:options:{user}"
                if options:
                    await self._client().set(key, json.dumps(options, ensure_ascii=False), ex=self.ttl)
                else:
                    await self._client().delete(key)
                return
            except Exception as exc:
                logger.warning("WeChat options: Redis unavailable (%s)", exc)
        if options:
            self.local.set(user, options)
        else:
            self.local.pop(user)


class SharedRetries:
    """Which worker answers a WeChat message, when ``REDIS_URL`` is set: WeChat may send a retry to
    another Rasa worker or replica than the one still answering the first delivery.

    One Redis key per (FromUserName, MsgId), alive for ``RETRY_WINDOW`` seconds. The first worker to
    ``SET NX`` it answers the message; the key then says ``processing``, ``done`` (with the reply
    text, for a retry that arrives after the answer) or ``api`` (the answer goes through the
    customer-service API, so a retry gets ``success``). Without Redis, or while Redis is down, every
    worker answers on its own, as with one process (``claim`` says yes).
    """

    def __init__(self, redis_url: str | None, ttl: int = RETRY_WINDOW, poll: float = 0.1) -> None:
        self.redis_url, self.ttl, self.poll = redis_url, ttl, poll
        self._redis: Any = None

    @staticmethod
    def key(message_key: tuple[str, str]) -> str:
        # hashed: FromUserName and MsgId come from the network; the key stays short whatever they are
        digest = hashlib.sha256("\x00".join(message_key).encode("utf-8", "replace")).hexdigest()[:40]
        return f"wechat:msg:{digest}"

    def _client(self) -> Any:
        if self._redis is None:
            self._redis = connect_redis(self.redis_url)
        return self._redis

    async def claim(self, message_key: tuple[str, str]) -> bool:
        """True when this worker should answer: it claimed the message, or Redis is off or down."""
        if not self.redis_url:
            return True
        try:
            claimed = await self._client().set(self.key(message_key), '{"state": "processing"}', nx=True, ex=self.ttl)
            return bool(claimed)
        except Exception as exc:
            logger.warning("WeChat retries: Redis unavailable (%s); answering in this worker", exc)
            return True

    async def _update(self, message_key: tuple[str, str], state: dict[str, Any]) -> None:
        if not self.redis_url:
            return
        try:
            await self._client().set(self.key(message_key), json.dumps(state, ensure_ascii=False), xx=True, ex=self.ttl)
        except Exception as exc:
            logger.warning("WeChat retries: Redis unavailable (%s)", exc)

    async def done(self, message_key: tuple[str, str], content: str | None) -> None:
        await self._update(message_key, {"state": "done", "content": content})

    async def via_api(self, message_key: tuple[str, str]) -> None:
        await self._update(message_key, {"state": "api"})

    async def outcome(self, message_key: tuple[str, str], wait: float) -> str | None:
        """The other worker's reply text, once it is done within ``wait`` seconds; else None ("success")."""
        deadline = time.monotonic() + wait
        while True:
            try:
                raw = await self._client().get(self.key(message_key))
                state = json.loads(raw) if raw else {}
            except Exception as exc:
                logger.warning("WeChat retries: Redis unavailable (%s)", exc)
                return None
            if state.get("state") == "done":
                content = state.get("content")
                return content if isinstance(content, str) else None
            if state.get("state") != "processing" or time.monotonic() >= deadline:
                return None
            await asyncio.sleep(self.poll)


@dataclass
class Processing:
    """One WeChat message being (or having been) answered in this worker; retries share it."""

    task: asyncio.Task | None = None
    via_api: bool = False  # the answer goes (went) through the customer-service API
    rendered: str | None = None  # the plain passive reply XML, once rendered
    elsewhere: bool = False  # another worker claimed the message: this one only relays its outcome


# ---------------------------------------------------------------- the channel


@dataclass
class WeChatConfig:
    token: str | None = None
    appid: str = ""
    secret: str = ""
    aes_key: str = ""
    api_base: str = "https://api.weixin.qq.com"
    reply_timeout: float = 4.0
    mode: str = "plain"  # "safe": encrypted messages only; "compat": both; "plain": no key needed

    @classmethod
    def from_env(cls, env: Any = None) -> WeChatConfig:
        env = os.environ if env is None else env
        try:
            timeout = float(env.get("WECHAT_REPLY_TIMEOUT") or 4.0)
        except ValueError:
            logger.warning("WECHAT_REPLY_TIMEOUT is not a number; using 4.0")
            timeout = 4.0
        key = env.get("WECHAT_AES_KEY", "")
        default_mode = "safe" if key else "plain"
        mode = (env.get("WECHAT_MODE") or default_mode).strip().lower()
        if mode not in MODES:
            logger.error("WECHAT_MODE=%r is not one of %s; using %s", mode, "/".join(MODES), default_mode)
            mode = default_mode
        return cls(
            token=env.get("WECHAT_TOKEN") or None,
            appid=env.get("WECHAT_APPID", ""),
            secret=env.get("WECHAT_APPSECRET", ""),
            aes_key=key,
            api_base=env.get("WECHAT_API_BASE") or "https://api.weixin.qq.com",
            reply_timeout=timeout,
            mode=mode,
        )


@dataclass
class _Answer:
    content: str | None  # None: nothing to say (WeChat gets "success")
    options: list[dict[str, str]] = field(default_factory=list)


class WeChatInput(InputChannel):
    """Rasa input channel for a WeChat Official Account."""

    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # The secrets come from the environment, never from credentials.yml (which is committed).
        return cls(WeChatConfig.from_env())

    def __init__(self, config: WeChatConfig) -> None:
        self.config = config
        self.key: bytes | None = None
        if config.token and config.aes_key:
            try:
                self.key = aes_key(config.aes_key)
            except ValueError as e:
                logger.error("WeChat: no usable AES key, encrypted messages are refused: %s", e)
        if config.token and config.mode == "safe" and self.key is None:
            logger.error("WeChat safe mode needs a valid WECHAT_AES_KEY: every message is refused")
        redis_url = os.environ.get("REDIS_URL") or None
        self.api = WeChatApi(config.api_base, config.appid, config.secret, redis_url)  # knowledge/wechat_api.py
        self.replies = TtlCache(REPLY_TTL)  # (FromUserName, MsgId) -> Processing, in this worker
        self.retries = SharedRetries(redis_url)
        self.options = SharedOptions(OPTIONS_TTL, redis_url)
        per_user = limit_from_env("RATE_LIMIT_PER_SENDER", "20/60")
        self.limiter = RateLimiter(name="wechat-user", limit=per_user[0], per_seconds=per_user[1])
        install_log_masking()
        self._background: set[asyncio.Future] = set()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("wechat_webhook", __name__)
        if not self.config.token:
            logger.info("WeChat channel is off: WECHAT_TOKEN is not set (/webhooks/wechat/webhook answers 503)")

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.config.token else "off"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.config.token:
                return response.text("WeChat channel is off", status=503)
            args = request.args
            timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
            if not timestamp_fresh(timestamp) or not signature_ok(
                self.config.token, args.get("signature"), timestamp, nonce
            ):
                return response.text("forbidden", status=403)
            return response.text(args.get("echostr", ""))

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.config.token:
                return response.text("WeChat channel is off", status=503)
            try:
                return await self._receive(request, on_new_message)
            except Exception:  # never a crash, never a stack trace in the response
                logger.exception("WeChat message handling failed")
                return response.text("success")

        return bp

    async def _receive(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        token = self.config.token or ""
        length = request.headers.get("content-length", "")
        if (length.isdigit() and int(length) > MAX_BODY) or len(request.body or b"") > MAX_BODY:
            return response.text("payload too large", status=413)
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        if not timestamp_fresh(timestamp):
            return response.text("forbidden", status=403)
        safe_mode = args.get("encrypt_type", "raw").lower() == "aes"
        if not safe_mode and self.config.mode == "safe":
            # The URL signature does not cover the body: a plaintext body could be anyone's.
            logger.warning("WeChat: a plaintext message refused (safe mode accepts encrypted messages only)")
            return response.text("forbidden: encrypted messages only", status=403)
        try:
            outer = parse_xml(request.body or b"")
        except (BadXml, UnicodeDecodeError):
            return response.text("bad request", status=400)
        if safe_mode:
            if self.key is None:
                logger.warning("WeChat safe-mode message but WECHAT_AES_KEY is not usable")
                return response.text("safe mode is not configured", status=400)
            encrypted = outer.get("Encrypt", "")
            if not encrypted:
                return response.text("bad request", status=400)
            if not signature_ok(token, args.get("msg_signature"), timestamp, nonce, encrypted):
                return response.text("forbidden", status=403)
            try:
                message = parse_xml(decrypt(self.key, encrypted, self.config.appid))
            except (CryptoError, BadXml):
                return response.text("bad request", status=400)
        else:
            if not signature_ok(token, args.get("signature"), timestamp, nonce):
                return response.text("forbidden", status=403)
            message = outer
        if not all(message.get(f) for f in ("ToUserName", "FromUserName", "MsgType", "CreateTime")):
            return response.text("bad request", status=400)

        user, msg_type = message["FromUserName"], message["MsgType"].lower()
        # WeChat's MsgId is unique per account only together with the sender (events have none).
        key = (user, message.get("MsgId") or f"{message['CreateTime']}:{message.get('Event', '')}")
        entry: Processing | None = self.replies.get(key)
        if entry is None:
            entry = Processing()
            entry.task = asyncio.create_task(self._process(entry, key, message, user, msg_type, on_new_message))
            self.replies.set(key, entry)
        task = entry.task
        assert task is not None
        if entry.via_api:
            return response.text("success")
        try:
            answer = await asyncio.wait_for(asyncio.shield(task), self.config.reply_timeout)
        except asyncio.TimeoutError:
            if not entry.via_api:
                entry.via_api = True
                if not entry.elsewhere:  # a retry reaching another worker now gets "success"
                    self._in_background(self.retries.via_api(key))
                task.add_done_callback(lambda t: self._send_later(t, user, entry))
            return response.text("success")
        if entry.via_api or answer.content is None:
            return response.text("success")
        if entry.rendered is None:
            entry.rendered = text_reply_xml(user, message["ToUserName"], fit_text(answer.content))
        if safe_mode and self.key is not None:
            body = encrypted_reply_xml(
                token, self.key, self.config.appid, entry.rendered, str(int(time.time())), secrets.token_hex(8)
            )
        else:
            body = entry.rendered
        return response.text(body, content_type="application/xml; charset=utf-8")

    async def _process(
        self,
        entry: Processing,
        key: tuple[str, str],
        message: dict[str, str],
        user: str,
        msg_type: str,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> _Answer:
        """Answer the message, or relay the outcome of the worker that claimed it first."""
        if not await self.retries.claim(key):
            entry.elsewhere = True
            return _Answer(await self.retries.outcome(key, self.config.reply_timeout + 1))
        answer = await self._answer(message, user, msg_type, on_new_message)
        if not entry.via_api:
            await self.retries.done(key, answer.content)
        return answer

    async def _answer(
        self, message: dict[str, str], user: str, msg_type: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> _Answer:
        if msg_type == "event":
            event = message.get("Event", "").lower()
            return _Answer(WELCOME if event == "subscribe" else None)
        if msg_type == "voice":
            text = message.get("Recognition", "").strip()
            if not text:
                return _Answer(VOICE_UNRECOGNISED)
        elif msg_type == "text":
            text = message.get("Content", "").strip()
        else:
            return _Answer(UNSUPPORTED)
        if not text:
            return _Answer(NO_ANSWER)
        if not await self.limiter.allow(user):
            return _Answer(TOO_FAST)
        number = option_number(text)
        offered = await self.options.get(user) if number else None
        if offered and number and number <= len(offered):
            text = offered[number - 1]["payload"]
        screened = screen(text)  # personal data masked before Rasa stores anything
        if screened.reply is not None:
            return _Answer(screened.reply)
        text = screened.text or ""
        collector = CollectingOutputChannel()
        try:
            await on_new_message(UserMessage(text, collector, user, input_channel=self.name()))
        except Exception:
            logger.exception("Rasa failed on a WeChat message")
            return _Answer(BUSY)
        if not collector.messages:  # the action server is down: never silence
            return _Answer(SORRY)
        content, options = compose(collector.messages)
        await self.options.set(user, options)
        return _Answer(content, options)

    def _send_later(self, task: asyncio.Task, user: str, entry: Processing) -> None:
        if task.cancelled() or task.exception() is not None or entry.elsewhere:
            return  # elsewhere: the worker that answered the message delivers it
        answer: _Answer = task.result()
        if answer.content is None:
            return
        self._in_background(self.api.send_text(user, answer.content))

    def _in_background(self, work: Awaitable[Any]) -> None:
        future = asyncio.ensure_future(work)
        self._background.add(future)  # a reference, so the task is not garbage-collected half-way
        future.add_done_callback(self._background.discard)
