"""WeChat's callback protocol as pure functions: signatures, safe-mode AES, XML, text limits.

Written from WeChat's message-encryption specification with ``cryptography`` and the standard
library; no Rasa import, so the tests can use it from the app environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
import time
import xml.etree.ElementTree as ET
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MAX_CLOCK_SKEW = 300
TEXT_LIMIT = 2048  # bytes of UTF-8 in one WeChat text message
BLOCK = 32  # WeChat's PKCS#7 block size
MAX_OPTIONS = 9
SOURCE_PREFIX = "来源："
OPTIONS_HEADER = "回复数字选择："
ELLIPSIS = "……"
NO_ANSWER = "抱歉，暂时没有找到答复，请换个说法再试试。"


def signature(token: str, *parts: str) -> str:
    """WeChat's SHA-1 signature: the token and the parts sorted, concatenated, hex digest."""
    return hashlib.sha1("".join(sorted([token, *parts])).encode("utf-8")).hexdigest()


def signature_ok(expected_token: str, given: str | None, *parts: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(signature(expected_token, *parts).encode(), given.strip().lower().encode())


def timestamp_fresh(timestamp: str | None, now: float | None = None) -> bool:
    try:
        value = int(timestamp or "")
    except ValueError:
        return False
    return abs((time.time() if now is None else now) - value) <= MAX_CLOCK_SKEW


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key from the 43-character EncodingAESKey."""
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("WECHAT_AES_KEY must be 43 characters of base64 (32 bytes)")
    return key


class CryptoError(ValueError):
    """A safe-mode message that does not decrypt to a well-formed payload for our app."""


def encrypt(key: bytes, plaintext: str, appid: str, random16: bytes | None = None) -> str:
    """AES-256-CBC, IV = key[:16], PKCS#7 (32): random(16) + len(4, big-endian) + xml + appid; base64."""
    xml = plaintext.encode("utf-8")
    raw = (random16 or secrets.token_bytes(16)) + struct.pack(">I", len(xml)) + xml + appid.encode("utf-8")
    pad = BLOCK - len(raw) % BLOCK
    raw += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(raw) + encryptor.finalize()).decode("ascii")


def decrypt(key: bytes, ciphertext: str, appid: str) -> str:
    try:
        data = base64.b64decode(ciphertext, validate=True)
    except (ValueError, TypeError) as e:
        raise CryptoError("not base64") from e
    if not data or len(data) % 16:
        raise CryptoError("bad length")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    raw = decryptor.update(data) + decryptor.finalize()
    pad = raw[-1]
    if not 1 <= pad <= BLOCK or raw[-pad:] != bytes([pad]) * pad:
        raise CryptoError("bad padding")
    raw = raw[:-pad]
    if len(raw) < 20:
        raise CryptoError("too short")
    (length,) = struct.unpack(">I", raw[16:20])
    xml, tail = raw[20 : 20 + length], raw[20 + length :]
    if len(xml) != length or tail.decode("utf-8", "replace") != appid:
        raise CryptoError("length or appid mismatch")
    try:
        return xml.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CryptoError("not UTF-8") from e


class BadXml(ValueError):
    """The body is not a WeChat XML message we accept."""


class _NoDtd(ET.TreeBuilder):
    """Refuses a document type declaration as soon as the parser meets it: entities can only be declared in one."""

    def doctype(self, name: str, pubid: str, system: str) -> None:
        raise BadXml("DTDs and entities are not allowed")


def parse_xml(body: str | bytes) -> dict[str, str]:
    """The children of ``<xml>`` as a flat dict. DTDs and entities are refused (no XXE, no billion laughs).

    The check is the parser's, not a text search: a resident may type "<!DOCTYPE" in a message (it arrives
    as text in CDATA). Anything that is not a well-formed UTF-8 ``<xml>`` document raises ``BadXml`` too.
    """
    try:
        text = body.decode("utf-8", "strict") if isinstance(body, bytes) else body
    except UnicodeDecodeError as e:
        raise BadXml("not UTF-8") from e
    try:
        root = ET.fromstring(text, parser=ET.XMLParser(target=_NoDtd()))
    except (ET.ParseError, UnicodeEncodeError) as e:  # UnicodeEncodeError: a lone surrogate in a str
        raise BadXml(str(e)) from e
    if root.tag != "xml":
        raise BadXml("the root element must be <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


# Characters XML 1.0 allows nowhere, not even in CDATA (e.g. \x0b, Word's line break pasted into an answer).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def cdata(value: str) -> str:
    """``value`` as CDATA; characters XML cannot carry are dropped, so the reply stays well-formed."""
    return "<![CDATA[" + _NOT_XML.sub("", value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(to_user: str, from_user: str, content: str, create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(time.time()) if create_time is None else create_time}</CreateTime>"
        f"<MsgType>{cdata('text')}</MsgType><Content>{cdata(content)}</Content></xml>"
    )


def encrypted_reply_xml(token: str, key: bytes, appid: str, xml: str, timestamp: str, nonce: str) -> str:
    encrypted = encrypt(key, xml, appid)
    return (
        f"<xml><Encrypt>{cdata(encrypted)}</Encrypt>"
        f"<MsgSignature>{cdata(signature(token, timestamp, nonce, encrypted))}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
    )


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-8 bytes (never splits a character)."""
    return text.encode("utf-8")[: max(limit, 0)].decode("utf-8", "ignore")


def fit_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """One message within ``limit`` bytes: the answer body is trimmed, the 来源 line and the options are kept."""
    if _utf8_len(text) <= limit:
        return text
    lines = text.split("\n")
    keep_from = next((i for i, line in enumerate(lines) if line.startswith(SOURCE_PREFIX)), None)
    if keep_from is None:
        keep_from = next((i for i, line in enumerate(lines) if line.startswith(OPTIONS_HEADER)), len(lines))
    body, tail = "\n".join(lines[:keep_from]), "\n".join(lines[keep_from:])
    if tail and _utf8_len(tail) + _utf8_len(ELLIPSIS) + 1 < limit:
        room = limit - _utf8_len(tail) - _utf8_len(ELLIPSIS) - 1
        return _cut(body, room).rstrip() + ELLIPSIS + "\n" + tail
    return _cut(text, limit - _utf8_len(ELLIPSIS)).rstrip() + ELLIPSIS


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Several messages within ``limit`` bytes each, cut at blank lines, then lines, then characters."""
    if _utf8_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while _utf8_len(line) > limit:  # a single over-long line: cut it at characters
            if current:
                pieces.append(current)
                current = ""
            head = _cut(line, limit)
            pieces.append(head)
            line = line[len(head) :]
        candidate = f"{current}\n{line}" if current else line
        if _utf8_len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = line
    if current:
        pieces.append(current)
    return [p.strip("\n") for p in pieces if p.strip()]


def option_number(text: str) -> int | None:
    """1–9 for a message that is just one digit (ASCII or full-width), else None."""
    text = text.strip()
    if len(text) != 1:
        return None
    if "1" <= text <= "9":
        return int(text)
    if "１" <= text <= "９":
        return ord(text) - ord("０")
    return None


def compose(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """Rasa's collected messages as one WeChat text (and the options offered in it)."""
    texts: list[str] = []
    buttons: list[dict[str, str]] = []
    for message in messages:
        if message.get("text"):
            texts.append(str(message["text"]).strip())
        for button in message.get("buttons") or []:
            if button.get("title") and button.get("payload") and len(buttons) < MAX_OPTIONS:
                buttons.append({"title": str(button["title"]), "payload": str(button["payload"])})
    content = "\n\n".join(t for t in texts if t) or NO_ANSWER
    if buttons:
        content += "\n\n" + OPTIONS_HEADER + "\n" + "\n".join(f"{i}. {b['title']}" for i, b in enumerate(buttons, 1))
    return content, buttons
