"""End to end: the real Rasa server and the real action server, talked to over REST."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from tests.stack import Stack, said

pytestmark = pytest.mark.e2e


@pytest.fixture
def rasa_url(stack: Stack) -> str:
    return stack.rasa_url


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


async def test_elevator_fragment_gets_cited_answer_with_related_buttons(rasa_url: str):
    replies = await Resident(rasa_url).say("加梯")
    assert "《杭州争当浙江高质量发展建设共同富裕示范区城市范例的行动计划（2021—2025年）》第9条" in said(replies)
    assert "加装电梯" in said(replies)
    assert any(r.get("buttons") for r in replies)


async def test_follow_up_stays_on_childcare(rasa_url: str):
    resident = Resident(rasa_url)
    first = said(await resident.say("到2025年每千人口有多少个托位"))
    assert "4.6" in first and "主要目标" in first
    second = said(await resident.say("那2022年底呢"))
    assert "3.5" in second and "2022年进展报道" in second


async def test_other_plan_commitment_is_answered_with_its_figure(rasa_url: str):
    reply = said(await Resident(rasa_url).say("人均预期寿命到2025年要达到多少岁"))
    assert "83.88" in reply and "主要目标" in reply


async def test_greeting_and_out_of_scope_are_polite_and_cite_nothing(rasa_url: str):
    resident = Resident(rasa_url)
    assert "杭州市民服务助手" in said(await resident.say("你好"))
    messages = await resident.say("帮我查一下明天杭州会不会下雨")
    reply = said(messages)
    assert "来源" not in reply and "12345" in reply
    # what the assistant can answer: the topics as buttons, and a person
    buttons = [b["title"] for m in messages for b in m.get("buttons", [])]
    assert any("加装电梯" in b for b in buttons) and any("积分落户" in b for b in buttons) and "转人工" in buttons


async def test_markup_from_a_resident_is_answered_not_echoed(rasa_url: str):
    reply = said(await Resident(rasa_url).say("<script>alert(1)</script>"))
    assert reply and "<script>" not in reply
