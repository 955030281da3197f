"""Closed-loop load on a Rasa REST channel: C residents, each waiting for its reply before asking again.

    .venv/app/bin/python -m bench.load --url http://127.0.0.1:5005 --concurrency 20 --messages 600

Every resident has its own sender id and at most one message in flight (closed loop), so the
offered load adapts to the server instead of piling up. After ``per_sender`` messages a resident
is replaced by a new one (a new sender id), as residents ask a few questions and leave; this also
keeps each conversation below the channel's per-sender rate limit. The n-th message of a phase is
``messages[n % len(messages)]`` whichever resident sends it, so a run always sends the same
questions. A warm-up phase (not counted) comes first. Bounded twice: a total number of
messages and a wall-clock cap (no new message is sent after it; one in flight may take up
to the request timeout). Only loopback URLs are accepted.

Counted separately: replies that are not HTTP 200, HTTP 200 with no bot message, HTTP 200 whose
text contains one of ``error_markers`` (the channel's apology when the bot failed or was too
slow), and requests that failed (connection error, timeout). Latency percentiles are over the
HTTP 200 replies.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import yaml

EVAL_SET = Path(__file__).resolve().parent.parent / "tests" / "nlu_eval.yml"
WEBHOOK = "/webhooks/rest/webhook"


def check_loopback(url: str) -> str:
    """``url`` without a trailing slash; ValueError unless it is http(s) on a loopback address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"not an http URL: {url!r}")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"refusing to load a non-loopback server: {url!r}")
    return url.rstrip("/")


def resident_questions(path: Path = EVAL_SET, seed: int = 6) -> list[str]:
    """The held-out resident messages of every intent, in a fixed shuffled order (topics mixed)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    texts = [
        line[2:].strip()
        for block in data["nlu"]
        if "intent" in block
        for line in block["examples"].splitlines()
        if line.startswith("- ")
    ]
    random.Random(seed).shuffle(texts)
    return texts


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


@dataclass
class LoadResult:
    concurrency: int
    planned: int
    warmup: int
    sent: int = 0  # counted messages sent (after the warm-up)
    ok: int = 0  # HTTP 200 with at least one bot message
    empty: int = 0  # HTTP 200 but no bot message
    http_errors: int = 0  # any other status
    failed: int = 0  # connection errors and timeouts
    degraded: int = 0  # HTTP 200 whose text contains an error marker (an apology instead of an answer)
    duration: float = 0.0  # seconds of the counted phase
    stopped_by: str = "messages"  # or "time"
    latencies: list[float] = field(default_factory=list)  # seconds, HTTP 200 only
    statuses: dict[int, int] = field(default_factory=dict)  # non-200 statuses seen

    @property
    def errors(self) -> int:
        return self.empty + self.degraded + self.http_errors + self.failed

    @property
    def answered(self) -> int:
        """Replies with HTTP 200 (answers, empty replies and apologies alike)."""
        return self.ok + self.empty + self.degraded

    @property
    def throughput(self) -> float:
        return self.answered / self.duration if self.duration else 0.0

    def ms(self, share: float) -> float:
        return percentile(self.latencies, share) * 1000

    def summary(self) -> dict:
        return {
            "concurrency": self.concurrency,
            "sent": self.sent,
            "ok": self.ok,
            "empty": self.empty,
            "degraded": self.degraded,
            "http_errors": self.http_errors,
            "failed": self.failed,
            "duration_s": round(self.duration, 2),
            "stopped_by": self.stopped_by,
            "throughput_msg_s": round(self.throughput, 2),
            "p50_ms": round(self.ms(0.50), 1),
            "p95_ms": round(self.ms(0.95), 1),
            "p99_ms": round(self.ms(0.99), 1),
            "max_ms": round(max(self.latencies, default=float("nan")) * 1000, 1),
            "statuses": self.statuses,
        }


async def _phase(
    http: aiohttp.ClientSession,
    url: str,
    messages: Sequence[str],
    *,
    prefix: str,
    concurrency: int,
    per_sender: int,
    total: int,
    deadline: float,
    timeout: float,
    error_markers: Sequence[str],
    result: LoadResult | None,
) -> bool:
    """Send ``total`` messages from ``concurrency`` closed-loop residents; False if the deadline stopped it."""
    next_ticket = 0

    async def resident(slot: int) -> None:
        nonlocal next_ticket
        asked = 0
        while next_ticket < total and time.monotonic() < deadline:
            ticket, next_ticket = next_ticket, next_ticket + 1
            sender = f"{prefix}-{slot}-{asked // per_sender}"
            asked += 1
            body = {"sender": sender, "message": messages[ticket % len(messages)]}
            started = time.perf_counter()
            try:
                async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as reply:
                    payload = await reply.read()
                    status = reply.status
            except (aiohttp.ClientError, asyncio.TimeoutError):
                if result is not None:
                    result.sent += 1
                    result.failed += 1
                continue
            elapsed = time.perf_counter() - started
            if result is None:
                continue
            result.sent += 1
            if status != 200:
                result.http_errors += 1
                result.statuses[status] = result.statuses.get(status, 0) + 1
                continue
            result.latencies.append(elapsed)
            try:
                bot_messages = json.loads(payload)
            except ValueError:
                bot_messages = None
            if not bot_messages or not isinstance(bot_messages, list):
                result.empty += 1
                continue
            texts = " ".join(str(m.get("text", "")) for m in bot_messages if isinstance(m, dict))
            if any(marker in texts for marker in error_markers):
                result.degraded += 1
            else:
                result.ok += 1

    await asyncio.gather(*(resident(slot) for slot in range(concurrency)))
    return next_ticket >= total


async def run_load(
    rasa_url: str,
    messages: Sequence[str],
    *,
    concurrency: int = 20,
    per_sender: int = 10,
    total: int = 600,
    warmup: int = 20,
    max_seconds: float = 120.0,
    request_timeout: float = 30.0,
    run_id: str | None = None,
    error_markers: Sequence[str] = (),
) -> LoadResult:
    """Warm up with ``warmup`` messages, then send ``total`` counted ones; both phases share the ``max_seconds`` cap."""
    url = check_loopback(rasa_url) + WEBHOOK
    if not messages or concurrency < 1 or per_sender < 1 or total < 1 or warmup < 0:
        raise ValueError("need messages, concurrency >= 1, per_sender >= 1, total >= 1, warmup >= 0")
    run_id = run_id or f"{time.time_ns():x}"
    result = LoadResult(concurrency=concurrency, planned=total, warmup=warmup)
    deadline = time.monotonic() + max_seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        common = {
            "concurrency": concurrency,
            "per_sender": per_sender,
            "deadline": deadline,
            "timeout": request_timeout,
            "error_markers": tuple(error_markers),
        }
        if warmup:
            await _phase(http, url, messages, prefix=f"warm-{run_id}", total=warmup, result=None, **common)
        started = time.perf_counter()
        finished = await _phase(http, url, messages, prefix=f"load-{run_id}", total=total, result=result, **common)
        result.duration = time.perf_counter() - started
    result.stopped_by = "messages" if finished else "time"
    return result


async def one_conversation(
    rasa_url: str,
    messages: Sequence[str],
    *,
    turns: int = 60,
    sender: str | None = None,
    request_timeout: float = 30.0,
    error_markers: Sequence[str] = (),
) -> list[float | None]:
    """One resident asking ``turns`` questions in one conversation (one sender id), one at a time.

    Returns the latency in seconds of each turn in order; None for a turn that did not get an
    HTTP 200 reply with a bot message free of ``error_markers``."""
    url = check_loopback(rasa_url) + WEBHOOK
    if not messages or turns < 1:
        raise ValueError("need messages and turns >= 1")
    sender = sender or f"conversation-{time.time_ns():x}"
    latencies: list[float | None] = []
    async with aiohttp.ClientSession() as http:
        for turn in range(turns):
            body = {"sender": sender, "message": messages[turn % len(messages)]}
            started = time.perf_counter()
            try:
                async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=request_timeout)) as reply:
                    payload, status = await reply.read(), reply.status
            except (aiohttp.ClientError, asyncio.TimeoutError):
                latencies.append(None)
                continue
            elapsed = time.perf_counter() - started
            try:
                texts = " ".join(str(m.get("text", "")) for m in json.loads(payload) if isinstance(m, dict))
            except (ValueError, TypeError):
                texts = ""
            good = status == 200 and texts and not any(marker in texts for marker in error_markers)
            latencies.append(elapsed if good else None)
    return latencies


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="Rasa server, loopback only (e.g. http://127.0.0.1:5005)")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--per-sender", type=int, default=10, help="messages before a resident is replaced")
    parser.add_argument("--messages", type=int, default=600, help="counted messages")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    try:
        url = check_loopback(args.url)
    except ValueError as error:
        parser.error(str(error))
    result = asyncio.run(
        run_load(
            url,
            resident_questions(),
            concurrency=args.concurrency,
            per_sender=args.per_sender,
            total=args.messages,
            warmup=args.warmup,
            max_seconds=args.max_seconds,
        )
    )
    print(json.dumps(result.summary(), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
