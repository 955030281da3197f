"""The residents' REST channel (``/webhooks/rest/webhook``), used by the web chat widget.

Same request and reply format as Rasa's own ``rest`` channel, which it replaces in
credentials.yml, with what a public endpoint needs in front of Rasa:
- every message is screened by ``bot.guard`` (personal data masked before Rasa, and so the
  tracker store, sees it; empty / over-long / control-character input answered politely);
- per-sender and per-IP rate limits (in Redis when ``REDIS_URL`` is set, so they hold across
  workers and replicas), answered with 429 and a polite message in the usual reply format;
- client-supplied ``metadata`` and ``input_channel`` are ignored (they would be stored);
- every reply message carries ``resident_text``: the resident's message as the server keeps it
  (personal data masked), so the widget stores that in the browser instead of what was typed;
- the resident always gets a reply: if Rasa produced nothing (action server down) or took
  longer than ``ANSWER_TIMEOUT`` seconds from the start of the message's turn, a short apology
  in Chinese. A slow answer keeps running and is stored in the conversation. A message that
  waits behind the same resident's earlier messages (Rasa's conversation lock) is timed from
  its turn, up to ``QUEUE_TIMEOUT`` seconds of waiting.
Body errors (not UTF-8, not JSON, no sender) get 400 with a Chinese message, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import rasa_speedups
from bot.guard import SORRY, TOO_FAST, Screened, screen
from bot.lock_store import RESERVED, TURN_STARTED, Reservation, release_turn, reserve_turn
from knowledge.privacy import install_log_masking, pseudonymous_sender
from knowledge.ratelimit import RateLimiter, limit_from_env

logger = logging.getLogger(__name__)
rasa_speedups.apply()  # this channel is always configured, so every Rasa process gets them

SENDER = re.compile(r"[\w.:@-]{1,128}")
MAX_BODY = 512 * 1024  # a 20,000-character message is ~120 KB as escaped JSON


def client_ip(request: Request) -> str:
    """The resident's address (behind a proxy, set SANIC_PROXIES_COUNT so Sanic reads X-Forwarded-For)."""
    return request.remote_addr or request.ip or "unknown"


def bad_request(message: str, status: int = 400) -> HTTPResponse:
    return response.json({"error": "bad_request", "message": message}, status=status)


def kept_as(replies: list[dict[str, Any]], screened: Screened) -> list[dict[str, Any]]:
    """The replies, each with the resident's message as kept (masked) when there is one."""
    if screened.text is None:
        return replies
    return [{**reply, "resident_text": screened.text} for reply in replies]


class ResidentRestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def __init__(self) -> None:
        install_log_masking()
        self.answer_timeout = float(os.environ.get("ANSWER_TIMEOUT", "6"))
        self.queue_timeout = float(os.environ.get("QUEUE_TIMEOUT", "30"))
        per_sender = limit_from_env("RATE_LIMIT_PER_SENDER", "20/60")
        per_ip = limit_from_env("RATE_LIMIT_PER_IP", "300/60")
        self.sender_limiter = RateLimiter(name="rest-sender", limit=per_sender[0], per_seconds=per_sender[1])
        self.ip_limiter = RateLimiter(name="rest-ip", limit=per_ip[0], per_seconds=per_ip[1])
        self._running: set[asyncio.Future] = set()  # answers that outlived ANSWER_TIMEOUT

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("resident_rest", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            if len(body) > MAX_BODY:
                return bad_request("消息太大了，请精简后再发。", status=413)
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return bad_request("请求格式不正确：需要 UTF-8 编码的 JSON。")
            if not isinstance(payload, dict):
                return bad_request("请求格式不正确：需要一个 JSON 对象。")
            sender = payload.get("sender")
            if not isinstance(sender, str) or not SENDER.fullmatch(sender):
                return bad_request("请求缺少有效的 sender（1–128 个字母、数字或 _.:@-）。")
            sender = pseudonymous_sender(sender)  # an ID number or phone as sender id is never stored
            # The turn is taken on arrival: the resident's messages are processed in the order they came.
            reservation = reserve_turn(sender)
            try:
                screened = screen(payload.get("message"))
                if not await self.ip_limiter.allow(client_ip(request)) or not await self.sender_limiter.allow(sender):
                    return response.json(kept_as([{"recipient_id": sender, "text": TOO_FAST}], screened), status=429)
                if screened.reply is not None:
                    return response.json([{"recipient_id": sender, "text": screened.reply}])
                replies = await self._answer(on_new_message, screened.text or "", sender, reservation)
                return response.json(kept_as(replies, screened))
            finally:
                release_turn(reservation)  # if no turn took it

        return bp

    async def _answer(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        text: str,
        sender: str,
        reservation: Reservation | None = None,
    ) -> list[dict[str, Any]]:
        """Rasa's reply to one message; the apology if it fails, or takes longer than ANSWER_TIMEOUT
        once its turn has started. A message queued behind the same resident's earlier messages
        (bot/lock_store.py signals its turn) waits up to QUEUE_TIMEOUT for the turn first."""
        collector = CollectingOutputChannel()
        turn_started = asyncio.Event()
        context = TURN_STARTED.set(turn_started), RESERVED.set(reservation)  # copied into the task's context
        try:
            message = UserMessage(text, collector, sender, input_channel=self.name())
            task = asyncio.ensure_future(on_new_message(message))
        finally:
            TURN_STARTED.reset(context[0])
            RESERVED.reset(context[1])
        try:
            waiting = asyncio.ensure_future(turn_started.wait())
            await asyncio.wait({task, waiting}, timeout=self.queue_timeout, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            await asyncio.wait_for(asyncio.shield(task), self.answer_timeout)
        except asyncio.TimeoutError:
            logger.warning(
                "no answer within %.1f s of its turn (%s); apologised, the answer is still being processed",
                self.answer_timeout,
                "started" if turn_started.is_set() else "still queued",
            )
            self._running.add(task)
            task.add_done_callback(self._finished_late)
            return [{"recipient_id": sender, "text": SORRY}]
        except Exception:
            logger.exception("Rasa failed on a resident message")
            return [{"recipient_id": sender, "text": SORRY}]
        return collector.messages or [{"recipient_id": sender, "text": SORRY}]

    def _finished_late(self, task: asyncio.Future) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a late answer failed: %r", task.exception())
