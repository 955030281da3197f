"""WeChat Official Account channel: protocol unit tests, then the real Rasa server end to end.

The test side signs and encrypts messages with its own code written from WeChat's
message-encryption specification (``cryptography``'s PKCS7 padder, hashlib), never with the
channel's functions. A fake WeChat API server (aiohttp, in a thread) issues access tokens and
records customer-service messages.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import string
import struct
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests
from aiohttp import web
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from knowledge import wechat_protocol as proto
from knowledge.build import build
from tests.stack import APP_PYTHON, RASA, free_port, stop, trained_model

pytestmark = pytest.mark.e2e

TOKEN = "hz-test-token"
APPID = "wx1234567890abcdef"
REDIS_URL = "redis://127.0.0.1:6379/1"
WORKERS_REDIS_URL = "redis://127.0.0.1:6379/5"
RASA_PYTHON = RASA.parent / "python"
API_TOKEN = "rasa-api-test-token"  # Rasa's HTTP API is on only with a token (docs/SECURITY.md)
SECRET = "test-app-secret"
AES_KEY = "".join(random.Random(5).choices(string.ascii_letters + string.digits, k=43))
ACCOUNT = "gh_hangzhou_test"
SOURCE = "来源："


# ---------------------------------------------------------------- independent spec implementation


def spec_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def spec_key() -> bytes:
    return base64.b64decode(AES_KEY + "=")


def spec_encrypt(xml: str, appid: str = APPID) -> str:
    body = xml.encode()
    plain = os.urandom(16) + struct.pack(">I", len(body)) + body + appid.encode()
    padder = padding.PKCS7(256).padder()  # 256 bits = WeChat's 32-byte blocks
    padded = padder.update(plain) + padder.finalize()
    key = spec_key()
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(padded) + enc.finalize()).decode()


def spec_decrypt(encrypted: str) -> tuple[str, str]:
    key = spec_key()
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    unpadder = padding.PKCS7(256).unpadder()
    plain = unpadder.update(padded) + unpadder.finalize()
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()


def message_xml(user: str, msg_type: str = "text", create_time: int | None = None, **fields: str) -> str:
    extra = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{extra}</xml>"
    )


def text_xml(user: str, content: str, msg_id: str | None = None) -> str:
    return message_xml(user, "text", Content=content, MsgId=msg_id or str(random.randrange(10**15, 10**16)))


def signed_params(timestamp: int | None = None, **extra: str) -> dict[str, str]:
    ts, nonce = str(timestamp or int(time.time())), str(random.randrange(10**8, 10**9))
    return {"timestamp": ts, "nonce": nonce, "signature": spec_signature(TOKEN, ts, nonce), "openid": "o", **extra}


def parse(body: str | bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "xml"
    return {child.tag: child.text or "" for child in root}


# ---------------------------------------------------------------- unit tests of the pure functions


def test_signature_is_sha1_of_the_sorted_parts_and_compared_safely():
    assert proto.signature(TOKEN, "1700000000", "42") == spec_signature(TOKEN, "1700000000", "42")
    assert proto.signature(TOKEN, "1", "2", "enc") == spec_signature("enc", "2", "1", TOKEN)
    assert proto.signature_ok(TOKEN, spec_signature(TOKEN, "1", "2"), "1", "2")
    assert not proto.signature_ok(TOKEN, spec_signature("other", "1", "2"), "1", "2")
    assert not proto.signature_ok(TOKEN, None, "1", "2")
    now = 1_700_000_000
    assert proto.timestamp_fresh(str(now - 299), now) and not proto.timestamp_fresh(str(now - 301), now)
    assert not proto.timestamp_fresh("abc", now) and not proto.timestamp_fresh(None, now)


def test_aes_round_trip_against_the_independent_implementation():
    key = proto.aes_key(AES_KEY)
    assert key == spec_key() and len(key) == 32
    for xml in ["<xml><Content>蓝领公寓</Content></xml>", "x" * 31, "y" * 32, "中" * 700]:
        assert spec_decrypt(proto.encrypt(key, xml, APPID)) == (xml, APPID)
        assert proto.decrypt(key, spec_encrypt(xml), APPID) == xml
    with pytest.raises(proto.CryptoError):
        proto.decrypt(key, spec_encrypt("<xml/>", appid="wxsomeoneelse"), APPID)
    tampered = base64.b64decode(spec_encrypt("<xml/>"))
    with pytest.raises(proto.CryptoError):
        proto.decrypt(key, base64.b64encode(tampered[:-1] + bytes([tampered[-1] ^ 1])).decode(), APPID)
    with pytest.raises(proto.CryptoError):
        proto.decrypt(key, "not base64 at all!", APPID)


def test_xml_parsing_refuses_dtds_entities_and_garbage():
    assert proto.parse_xml(text_xml("u", "hi", "1"))["Content"] == "hi"
    for bad in [
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><xml><Content>&a;</Content></xml>',
        "<xml><Content>unclosed</xml>",
        "<notxml/>",
        "",
    ]:
        with pytest.raises(proto.BadXml):
            proto.parse_xml(bad)
    reply = proto.text_reply_xml("user", ACCOUNT, "a ]]> b", 123)
    assert parse(reply)["Content"] == "a ]]> b"


def test_long_answers_are_trimmed_keeping_the_source_and_options():
    body = "加装电梯" * 400
    text = f"{body}\n{SOURCE}《行动计划》第9条\n\n{proto.OPTIONS_HEADER}\n1. 问题一\n2. 问题二"
    fitted = proto.fit_text(text)
    assert len(fitted.encode()) <= proto.TEXT_LIMIT
    assert fitted.endswith(f"{SOURCE}《行动计划》第9条\n\n{proto.OPTIONS_HEADER}\n1. 问题一\n2. 问题二")
    assert proto.ELLIPSIS in fitted and fitted.startswith("加装电梯")
    assert proto.fit_text("短答复") == "短答复"
    assert len(proto.fit_text("字" * 5000).encode()) <= proto.TEXT_LIMIT

    parts = proto.split_text(("第一段" * 200 + "\n\n") * 5 + "长" * 3000)
    assert all(0 < len(p.encode()) <= proto.TEXT_LIMIT for p in parts)
    assert "".join(parts).replace("\n", "") == ("第一段" * 200) * 5 + "长" * 3000


def test_compose_drops_custom_joins_texts_and_numbers_buttons():
    content, options = proto.compose(
        [
            {"text": "答复一\n来源：第9条", "buttons": [{"title": "问题一", "payload": "/a"}]},
            {"custom": {"answer": {"faq_id": 1}}},
            {"text": "答复二", "buttons": [{"title": "问题二", "payload": "/b"}]},
        ]
    )
    assert content == "答复一\n来源：第9条\n\n答复二\n\n回复数字选择：\n1. 问题一\n2. 问题二"
    assert [o["payload"] for o in options] == ["/a", "/b"]
    assert proto.option_number("2") == 2 and proto.option_number(" ３ ") == 3
    assert proto.option_number("0") is None and proto.option_number("12") is None


# ---------------------------------------------------------------- fake WeChat API server


@dataclass
class FakeWeChat:
    url: str = ""
    tokens_issued: list[str] = field(default_factory=list)
    sends: list[dict] = field(default_factory=list)
    expire_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> web.Application:
        async def token(request: web.Request) -> web.Response:
            q = request.query
            if q.get("grant_type") != "client_credential" or q.get("appid") != APPID or q.get("secret") != SECRET:
                return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
            with self.lock:
                issued = f"token-{len(self.tokens_issued) + 1}"
                self.tokens_issued.append(issued)
            return web.json_response({"access_token": issued, "expires_in": 7200})

        async def send(request: web.Request) -> web.Response:
            payload = await request.json()
            used = request.query.get("access_token", "")
            with self.lock:
                current = self.tokens_issued[-1] if self.tokens_issued else None
                if self.expire_next > 0:
                    self.expire_next -= 1
                    errcode = 42001
                else:
                    errcode = 0 if used == current else 40001
                self.sends.append({"token": used, "payload": payload, "errcode": errcode})
            return web.json_response({"errcode": errcode, "errmsg": "ok" if errcode == 0 else "expired"})

        app = web.Application()
        app.router.add_get("/cgi-bin/token", token)
        app.router.add_post("/cgi-bin/message/custom/send", send)
        return app

    def delivered_to(self, user: str) -> list[dict]:
        with self.lock:
            return [s for s in self.sends if s["payload"].get("touser") == user]


def serving(fake: FakeWeChat) -> Iterator[FakeWeChat]:
    """Run a fake WeChat server on its own thread and event loop until the generator is closed."""
    port = free_port()
    fake.url = f"http://127.0.0.1:{port}"
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake.app())
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    yield fake
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture(scope="module")
def fake_wechat() -> Iterator[FakeWeChat]:
    yield from serving(FakeWeChat())


# ---------------------------------------------------------------- the real servers


@dataclass
class Servers:
    fast: str  # WECHAT_REPLY_TIMEOUT default (4 s), WECHAT_MODE=compat: plaintext and encrypted messages
    slow: str  # WECHAT_REPLY_TIMEOUT=0.001: every answer goes through the customer-service API; safe mode
    workdir: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, fake_wechat: FakeWeChat) -> Iterator[Servers]:
    """One action server and two Rasa servers with the WeChat channel on (real credentials.yml)."""
    workdir = tmp_path_factory.mktemp("wechat")
    kb_url = f"sqlite:///{workdir / 'kb.sqlite3'}"
    build(url=kb_url)
    action_port, fast_port, slow_port = free_port(), free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n', encoding="utf-8")
    env = {
        **os.environ,
        "DATABASE_URL": kb_url,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APPID": APPID,
        "WECHAT_APPSECRET": SECRET,
        "WECHAT_AES_KEY": AES_KEY,
        "WECHAT_API_BASE": fake_wechat.url,
        "REDIS_URL": REDIS_URL,  # offered options are shared by the two Rasa servers
    }
    env.pop("WECHAT_REPLY_TIMEOUT", None)
    env.pop("WECHAT_MODE", None)
    root = Path(__file__).resolve().parent.parent

    def rasa(port: int) -> list:
        return [RASA, "run", "--model", trained_model(), "--port", str(port), "--interface", "127.0.0.1",
                "--enable-api", "--auth-token", API_TOKEN,
                "--endpoints", endpoints, "--credentials", root / "credentials.yml"]  # fmt: skip

    commands = {
        "actions": ([APP_PYTHON, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)], env),
        "fast": (rasa(fast_port), {**env, "WECHAT_MODE": "compat"}),
        "slow": (rasa(slow_port), {**env, "WECHAT_REPLY_TIMEOUT": "0.001"}),  # safe mode: the default with a key
    }
    processes: dict[str, subprocess.Popen] = {}
    for name, (command, command_env) in commands.items():
        with (workdir / f"{name}.log").open("wb") as log:
            processes[name] = subprocess.Popen(command, cwd=root, env=command_env, stdout=log, stderr=subprocess.STDOUT)

    def logs() -> str:
        return "\n".join(
            f"--- {n} ---\n" + (workdir / f"{n}.log").read_text(errors="replace")[-3000:] for n in processes
        )

    try:
        urls = {"fast": f"http://127.0.0.1:{fast_port}", "slow": f"http://127.0.0.1:{slow_port}"}
        deadline, ready = time.monotonic() + 300, set()
        while ready != set(urls) and time.monotonic() < deadline:
            if any(p.poll() is not None for p in processes.values()):
                pytest.fail("a server exited during start-up:\n" + logs())
            for name, url in urls.items():
                try:
                    r = requests.post(
                        f"{url}/webhooks/rest/webhook",
                        json={"sender": f"probe-{uuid.uuid4().hex[:8]}", "message": "加梯"},
                        timeout=5,
                    )
                    if r.ok and r.json():
                        ready.add(name)
                except requests.RequestException:
                    pass
            time.sleep(1)
        if ready != set(urls):
            pytest.fail("the servers did not come up within 300 s:\n" + logs())
        yield Servers(fast=urls["fast"], slow=urls["slow"], workdir=workdir)
    finally:
        stop(*processes.values())


def webhook(base: str) -> str:
    return f"{base}/webhooks/wechat/webhook"


def new_user() -> str:
    return f"oUser{uuid.uuid4().hex[:20]}"


def post_plain(base: str, xml: str, **params: str) -> requests.Response:
    return requests.post(webhook(base), params=signed_params(**params), data=xml.encode(), timeout=15)


def encrypted_request(xml: str) -> tuple[dict[str, str], bytes]:
    """What WeChat sends in safe mode: the message encrypted, ``msg_signature`` over the ciphertext."""
    encrypted = spec_encrypt(xml)
    params = signed_params(encrypt_type="aes")
    params["msg_signature"] = spec_signature(TOKEN, params["timestamp"], params["nonce"], encrypted)
    body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return params, body.encode()


def post_safe(base: str, xml: str) -> requests.Response:
    params, body = encrypted_request(xml)
    return requests.post(webhook(base), params=params, data=body, timeout=15)


def ask(base: str, user: str, content: str) -> dict[str, str]:
    reply = post_plain(base, text_xml(user, content))
    assert reply.status_code == 200, reply.text
    return parse(reply.content)


def tracker_of(base: str, user: str) -> dict:
    return requests.get(f"{base}/conversations/{user}/tracker", params={"token": API_TOKEN}, timeout=10).json()


def user_turns(base: str, user: str) -> int:
    tracker = requests.get(f"{base}/conversations/{user}/tracker", params={"token": API_TOKEN}, timeout=10).json()
    return sum(1 for e in tracker.get("events", []) if e.get("event") == "user")


# ---------------------------------------------------------------- end to end


def test_url_verification_echoes_only_for_a_valid_fresh_signature(servers: Servers):
    ok = requests.get(webhook(servers.fast), params=signed_params(echostr="echo-123"), timeout=10)
    assert (ok.status_code, ok.text) == (200, "echo-123")
    bad = {**signed_params(echostr="echo-123"), "signature": spec_signature("wrong-token", "1", "2")}
    assert requests.get(webhook(servers.fast), params=bad, timeout=10).status_code == 403
    stale = signed_params(timestamp=int(time.time()) - 301, echostr="echo-123")
    assert requests.get(webhook(servers.fast), params=stale, timeout=10).status_code == 403
    assert requests.get(webhook(servers.fast), params={"echostr": "x"}, timeout=10).status_code == 403


def test_messages_with_a_bad_signature_or_stale_timestamp_are_refused(servers: Servers):
    user = new_user()
    params = {**signed_params(), "signature": "0" * 40}
    r = requests.post(webhook(servers.fast), params=params, data=text_xml(user, "蓝领公寓").encode(), timeout=10)
    assert r.status_code == 403
    assert post_plain(servers.fast, text_xml(user, "蓝领公寓"), timestamp=int(time.time()) - 400).status_code == 403
    assert user_turns(servers.fast, user) == 0


def test_plain_text_gets_a_passive_xml_reply_with_the_cited_answer_within_5_seconds(servers: Servers):
    user = new_user()
    started = time.monotonic()
    reply = post_plain(servers.fast, text_xml(user, "蓝领公寓"))
    elapsed = time.monotonic() - started
    assert reply.status_code == 200 and elapsed < 5
    assert "xml" in reply.headers["content-type"]
    answer = parse(reply.content)
    assert answer["ToUserName"] == user and answer["FromUserName"] == ACCOUNT and answer["MsgType"] == "text"
    assert abs(int(answer["CreateTime"]) - time.time()) < 10
    assert "蓝领公寓" in answer["Content"] and SOURCE in answer["Content"]
    assert "《杭州争当浙江高质量发展建设共同富裕示范区城市范例的行动计划" in answer["Content"]
    assert len(answer["Content"].encode()) <= proto.TEXT_LIMIT
    assert "faq_id" not in answer["Content"]  # the {"custom": …} message is not shown


def test_safe_mode_message_gets_an_encrypted_signed_reply(servers: Servers):
    user = new_user()
    encrypted = spec_encrypt(text_xml(user, "蓝领公寓"))
    params = signed_params(encrypt_type="aes")
    params["msg_signature"] = spec_signature(TOKEN, params["timestamp"], params["nonce"], encrypted)
    body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    reply = requests.post(webhook(servers.fast), params=params, data=body.encode(), timeout=10)
    assert reply.status_code == 200, reply.text
    outer = parse(reply.content)
    assert set(outer) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert outer["MsgSignature"] == spec_signature(TOKEN, outer["TimeStamp"], outer["Nonce"], outer["Encrypt"])
    inner_xml, appid = spec_decrypt(outer["Encrypt"])
    assert appid == APPID
    inner = parse(inner_xml)
    assert inner["ToUserName"] == user and inner["MsgType"] == "text"
    assert "蓝领公寓" in inner["Content"] and SOURCE in inner["Content"]

    # a wrong msg_signature, or a body encrypted for another app, is refused
    forged = {**params, "msg_signature": spec_signature(TOKEN, params["timestamp"], params["nonce"], "other")}
    assert requests.post(webhook(servers.fast), params=forged, data=body.encode(), timeout=10).status_code == 403
    alien = spec_encrypt(text_xml(user, "蓝领公寓"), appid="wxotherapp")
    params["msg_signature"] = spec_signature(TOKEN, params["timestamp"], params["nonce"], alien)
    body = f"<xml><Encrypt><![CDATA[{alien}]]></Encrypt></xml>"
    assert requests.post(webhook(servers.fast), params=params, data=body.encode(), timeout=10).status_code == 400


def test_safe_mode_refuses_a_plaintext_body_sent_with_a_captured_signature(servers: Servers):
    """The URL signature covers token, timestamp and nonce only. Someone who saw one callback URL (an
    access log) must not get a plaintext message from an invented user answered with it."""
    genuine_user, forger = new_user(), new_user()
    params, body = encrypted_request(text_xml(genuine_user, "蓝领公寓"))
    genuine = requests.post(webhook(servers.slow), params=params, data=body, timeout=10)
    assert (genuine.status_code, genuine.text) == (200, "success")  # safe mode answers, via the API here
    forged_xml = text_xml(forger, "积分落户").encode()
    captured = {k: params[k] for k in ("timestamp", "nonce", "signature", "openid")}
    for forged_params in (captured, {**captured, "encrypt_type": "raw"}):
        refused = requests.post(webhook(servers.slow), params=forged_params, data=forged_xml, timeout=10)
        assert refused.status_code == 403 and "encrypted" in refused.text, refused.text
    # encrypt_type=aes, but a plaintext body: no Encrypt field to check msg_signature against
    refused = requests.post(webhook(servers.slow), params=params, data=forged_xml, timeout=10)
    assert refused.status_code == 400
    time.sleep(1)
    # Rasa's GET creates a tracker with session-start events only: no message of that user reached Rasa
    forged_events = tracker_of(servers.slow, forger).get("events", [])
    assert [e for e in forged_events if e.get("event") not in ("action", "session_started")] == [], forged_events
    assert user_turns(servers.slow, genuine_user) == 1
    # compatible mode (the fast server) still takes the plaintext form WeChat sends in that mode
    assert SOURCE in ask(servers.fast, new_user(), "积分落户")["Content"]


def test_retries_are_recognised_per_sender_and_across_workers_through_redis():
    """Two channel objects (two Rasa workers) in one process, sharing Redis db 5 (tests/wechat_workers.py)."""
    redis.Redis.from_url(WORKERS_REDIS_URL).ping()
    done = subprocess.run(
        [RASA_PYTHON, "-m", "tests.wechat_workers", WORKERS_REDIS_URL],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    # a retry reaching the second worker, after or while the first answers: processed once, same reply
    sequential = seen["sequential"]
    assert sequential["processed"] == 1, seen
    assert sequential["first"] == sequential["retry"] == {"status": 200, "content": "答复：蓝领公寓"}
    concurrent = seen["concurrent"]
    assert concurrent["processed"] == 1, seen
    assert concurrent["replies"] == [{"status": 200, "content": "答复：加装电梯"}] * 2
    # a second resident whose message carries the first one's MsgId gets their own answer
    same = seen["same_msg_id"]
    assert same["processed"] == [1, 1], seen
    assert same["alice"]["content"] == "答复：托育" and same["bob"]["content"] == "答复：积分落户"
    # Redis down: the worker answers on its own and still recognises its own retries
    down = seen["redis_down"]
    assert down["processed"] == 1 and down["first"] == down["retry"] == {"status": 200, "content": "答复：共有产权房"}
    # plaintext bodies: answered in plain and compatible mode, refused in safe mode without reaching Rasa
    modes = seen["modes"]
    assert modes["plain"] == modes["compat"] == {"status": 200, "content": "答复：人才租房", "processed": 1}
    assert modes["safe"]["status"] == 403 and modes["safe"]["processed"] == 0


def test_a_retried_msg_id_is_processed_once_and_answered_the_same(servers: Servers):
    user = new_user()
    xml = text_xml(user, "共有产权房", msg_id="6200000000000000001")
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: post_plain(servers.fast, xml), range(3)))
    replies.append(post_plain(servers.fast, xml))  # a later retry
    assert all(r.status_code == 200 for r in replies)
    contents = {parse(r.content)["Content"] for r in replies}
    assert len(contents) == 1 and SOURCE in contents.pop()
    assert user_turns(servers.fast, user) == 1


def test_a_slow_answer_goes_through_the_customer_service_api(servers: Servers, fake_wechat: FakeWeChat):
    user = new_user()
    fake_wechat.expire_next = 1  # the first send meets an expired token: refresh and retry once
    started = time.monotonic()
    message = text_xml(user, "蓝领公寓")
    reply = post_safe(servers.slow, message)
    assert (reply.status_code, reply.text) == (200, "success") and time.monotonic() - started < 2
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(s["errcode"] == 0 for s in fake_wechat.delivered_to(user)):
        time.sleep(0.2)
    sends = fake_wechat.delivered_to(user)
    assert [s["errcode"] for s in sends] == [42001, 0], sends
    delivered = sends[-1]["payload"]
    assert delivered["msgtype"] == "text" and SOURCE in delivered["text"]["content"]
    assert "蓝领公寓" in delivered["text"]["content"]
    assert sends[-1]["token"] == fake_wechat.tokens_issued[-1] != sends[0]["token"]

    # a retry of that message is not processed or delivered again
    retry = post_safe(servers.slow, message)
    assert (retry.status_code, retry.text) == (200, "success")
    time.sleep(1)
    assert user_turns(servers.slow, user) == 1 and len(fake_wechat.delivered_to(user)) == 2


def test_malformed_and_oversize_bodies_are_refused_without_a_crash(servers: Servers):
    user = new_user()
    for body in [
        "<xml><Content>unclosed",
        "not xml at all",
        '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>',
        f"<xml><FromUserName>{user}</FromUserName><MsgType>text</MsgType></xml>",  # fields missing
        "<other/>",
    ]:
        r = post_plain(servers.fast, body)
        assert r.status_code == 400, (body, r.status_code)
        assert "Traceback" not in r.text and "passwd" not in r.text
    huge = text_xml(user, "蓝" * 30000)
    r = post_plain(servers.fast, huge)
    assert r.status_code == 413 and "Traceback" not in r.text
    assert SOURCE in ask(servers.fast, user, "蓝领公寓")["Content"]  # still serving


def test_subscribe_voice_and_image_messages(servers: Servers):
    user = new_user()
    welcome = parse(post_plain(servers.fast, message_xml(user, "event", Event="subscribe")).content)
    assert welcome["ToUserName"] == user
    assert "加装电梯" in welcome["Content"] and "积分落户" in welcome["Content"]

    voice = message_xml(user, "voice", MediaId="m1", Format="amr", Recognition="蓝领公寓", MsgId="6200000000000000002")
    answer = parse(post_plain(servers.fast, voice).content)
    assert "蓝领公寓" in answer["Content"] and SOURCE in answer["Content"]

    image = message_xml(user, "image", PicUrl="http://example.invalid/a.jpg", MediaId="m2", MsgId="6200000000000000003")
    polite = parse(post_plain(servers.fast, image).content)
    assert polite["MsgType"] == "text" and "文字" in polite["Content"]
    location = message_xml(
        user, "location", Location_X="30.27", Location_Y="120.15", Scale="15", Label="杭州", MsgId="6200000000000000004"
    )
    assert "文字" in parse(post_plain(servers.fast, location).content)["Content"]
    assert user_turns(servers.fast, user) == 1  # only the voice message reached Rasa


def test_a_number_reply_picks_the_offered_option(servers: Servers):
    user = new_user()
    first = ask(servers.fast, user, "加梯")["Content"]
    assert proto.OPTIONS_HEADER in first, first
    options = first.split(proto.OPTIONS_HEADER, 1)[1].strip().split("\n")
    assert options[0].startswith("1. ")
    picked = ask(servers.fast, user, "１")["Content"]  # full-width digit
    assert SOURCE in picked and picked != first
    tracker = tracker_of(servers.fast, user)
    texts = [e.get("text") for e in tracker["events"] if e.get("event") == "user"]
    assert texts[0] == "加梯" and texts[1].startswith("/choose_faq")


def test_options_offered_by_one_worker_are_understood_by_another(servers: Servers, fake_wechat: FakeWeChat):
    """Several Rasa workers or replicas: the "1" may reach another process than the one that offered."""
    control, user = new_user(), new_user()
    ask(servers.fast, control, "加梯")
    expected = ask(servers.fast, control, "1")["Content"]
    ask(servers.fast, user, "加梯")
    assert redis.Redis.from_url(REDIS_URL).exists(f"wechat:options:{user}")
    reply = post_safe(servers.slow, text_xml(user, "1"))  # the slow server answers via the API
    assert (reply.status_code, reply.text) == (200, "success")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(s["errcode"] == 0 for s in fake_wechat.delivered_to(user)):
        time.sleep(0.2)
    delivered = [s["payload"]["text"]["content"] for s in fake_wechat.delivered_to(user) if s["errcode"] == 0]
    assert delivered == [expected]


@pytest.mark.skipif(bool(os.environ.get("WECHAT_TOKEN")), reason="WECHAT_TOKEN is set in this environment")
def test_without_wechat_token_the_channel_is_off_and_says_so(stack):
    params = signed_params(echostr="x")
    assert requests.get(webhook(stack.rasa_url), params=params, timeout=10).status_code == 503
    assert post_plain(stack.rasa_url, text_xml(new_user(), "蓝领公寓")).status_code == 503
    log = (stack.workdir / "rasa.log").read_text(errors="replace")
    assert log.count("WeChat channel is off") == 1


def test_personal_data_typed_on_wechat_is_masked_before_anything_is_stored(servers: Servers):
    user, id_number, mobile = new_user(), "11010519491231002X", "13912345678"
    reply = ask(servers.fast, user, f"我身份证{id_number}手机{mobile}，想问蓝领公寓怎么申请")
    assert "来源" in reply["Content"]
    tracker = json.dumps(tracker_of(servers.fast, user), ensure_ascii=False)
    assert "[身份证号]" in tracker and "[手机号]" in tracker
    stored = tracker + "".join(p.read_text(errors="replace") for p in servers.workdir.glob("*.log"))
    assert id_number not in stored and mobile not in stored
