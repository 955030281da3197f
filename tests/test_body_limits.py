"""Oversized bodies are refused by Sanic before they are read, on the real Rasa server.

Sanic's own cap is 100 MB, so without ``SANIC_REQUEST_MAX_SIZE`` (set by scripts/run-rasa.sh to the
REST channel's 512 KiB) a 40 MB body was read whole before the channel's 413. Here the client
announces 40 MB, sends 4 KiB, and must get the 413 at once: a server that waited for the rest
would never answer.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.stack import Stack

pytestmark = pytest.mark.e2e

ANNOUNCED = 40 * 1024 * 1024
LIMIT = 512 * 1024  # bot/channels/rest.py MAX_BODY


def announce_and_read(
    base_url: str, path: str, length: int, send: int = 4096, timeout: float = 5
) -> tuple[bytes, float]:
    """Headers with Content-Length ``length``, then only ``send`` bytes; the server's answer and its delay."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        started = time.monotonic()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"x" * send)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass  # no answer: the server is still waiting for the body
        return answer, time.monotonic() - started


@pytest.mark.parametrize("channel", ["rest", "wechat"])
def test_a_40_mb_body_is_refused_with_413_before_it_is_read(stack: Stack, channel: str) -> None:
    answer, seconds = announce_and_read(stack.rasa_url, f"/webhooks/{channel}/webhook", ANNOUNCED)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert seconds < 2, f"413 after {seconds:.1f} s"
    assert b"Traceback" not in answer


def test_the_limit_is_the_rest_channels_and_a_normal_message_still_passes(stack: Stack) -> None:
    answer, _ = announce_and_read(stack.rasa_url, "/webhooks/rest/webhook", LIMIT + 1, send=16)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # a body at the limit is read and reaches the channel (which answers 400: not JSON)
    reply = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", data=b"x" * LIMIT, timeout=30)
    assert reply.status_code == 400, reply.text[:200]
    assert "来源" in str(stack.ask("body-limit-resident", "蓝领公寓"))
