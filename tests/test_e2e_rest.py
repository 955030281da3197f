"""End to end: the real Rasa server and the real action server, talked to over REST."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import requests

from knowledge.settings import PROJECT_ROOT

pytestmark = pytest.mark.e2e
RASA = PROJECT_ROOT / ".venv" / "rasa" / "bin" / "rasa"
APP_PYTHON = PROJECT_ROOT / ".venv" / "app" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trained_model() -> Path:
    if os.environ.get("RASA_MODEL"):
        return Path(os.environ["RASA_MODEL"])
    models = sorted((PROJECT_ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        pytest.fail("no trained model: run `make model` (make test does it for you)")
    return models[-1]


@pytest.fixture(scope="module")
def rasa_url(kb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    action_port, rasa_port = free_port(), free_port()
    workdir = tmp_path_factory.mktemp("stack")
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n', encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": kb_url, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = (workdir / "stack.log").open("wb")
    processes = [
        subprocess.Popen(
            [APP_PYTHON, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [RASA, "run", "--model", trained_model(), "--port", str(rasa_port), "--interface", "127.0.0.1",
             "--endpoints", endpoints, "--credentials", PROJECT_ROOT / "credentials.yml"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        ),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{rasa_port}"
    try:
        wait_until_answering(url, processes, workdir / "stack.log")
        yield url
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(timeout=30)
        log.close()


def wait_until_answering(url: str, processes: list[subprocess.Popen], log_path: Path) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            pytest.fail("a server exited during start-up:\n" + log_path.read_text(errors="replace")[-3000:])
        try:
            reply = requests.post(
                f"{url}/webhooks/rest/webhook", json={"sender": "probe", "message": "加梯"}, timeout=5
            )
            if reply.ok and reply.json():
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail("Rasa did not answer within 240 s:\n" + log_path.read_text(errors="replace")[-3000:])


class Resident:
    def __init__(self, url: str) -> None:
        self.url, self.sender = url, f"resident-{uuid.uuid4().hex[:8]}"

    async def say(self, message: str) -> list[dict]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/webhooks/rest/webhook", json={"sender": self.sender, "message": message}) as reply,
        ):
            assert reply.status == 200
            return await reply.json()


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


async def test_elevator_fragment_gets_cited_answer_with_related_buttons(rasa_url: str):
    replies = await Resident(rasa_url).say("加梯")
    assert "《杭州争当浙江高质量发展建设共同富裕示范区城市范例的行动计划（2021—2025年）》第9条" in texts(replies)
    assert "加装电梯" in texts(replies)
    assert any(r.get("buttons") for r in replies)


async def test_follow_up_stays_on_childcare(rasa_url: str):
    resident = Resident(rasa_url)
    first = texts(await resident.say("到2025年每千人口有多少个托位"))
    assert "4.6" in first and "主要目标" in first
    second = texts(await resident.say("那2022年底呢"))
    assert "3.5" in second and "2022年进展报道" in second


async def test_other_plan_commitment_is_answered_with_its_figure(rasa_url: str):
    reply = texts(await Resident(rasa_url).say("人均预期寿命到2025年要达到多少岁"))
    assert "83.88" in reply and "主要目标" in reply


async def test_greeting_and_out_of_scope_are_polite_and_cite_nothing(rasa_url: str):
    resident = Resident(rasa_url)
    assert "杭州市民服务助手" in texts(await resident.say("你好"))
    reply = texts(await resident.say("帮我查一下明天杭州会不会下雨"))
    assert "来源" not in reply
    assert "加装电梯" in reply and "积分落户" in reply


async def test_markup_from_a_resident_is_answered_not_echoed(rasa_url: str):
    reply = texts(await Resident(rasa_url).say("<script>alert(1)</script>"))
    assert reply and "<script>" not in reply
