"""The bot's own decision, inside the staff service: the test box, the inbox's matching, impact.

``AnswerTools`` holds, per application, an answer engine on the knowledge base (the one the bot
uses, knowledge.answering), the inbox's matcher on top of it, and a second engine for the
hypothetical knowledge base of the impact check (knowledge.impact). Engines update their index in
place and serve one thread at a time, so every use goes through ``AnswerTools.run``, which takes
the lock in a worker thread: the event loop keeps serving while a question is decided.

"问一句试试" (``try_question``) runs ``actions.steps.decide``, the very function the action server
runs, on the staff member's words: the step it names is the step a resident would get. What it
cannot see is the conversation (no previous question, no district slot) and, unless the Rasa
server's HTTP API is reachable (``RASA_URL`` with ``RASA_TOKEN``), NLU's intent: steps that lean on
the intent (a weak match let through for a clear topic, chit-chat recognised only by NLU) can then
differ, and the reply says so. Nothing is recorded: no inbox row, no hand-off, no statistics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import yaml
from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from actions.replies import inbox_outcome, reply_text
from actions.steps import Turn, decide
from knowledge import impact, queries
from knowledge.answering import AnswerEngine
from knowledge.errors import Invalid, StaffError
from knowledge.impact import Hypothetical, Outcome
from knowledge.inbox import KINDS
from knowledge.inbox_groups import Matcher
from knowledge.parse import sentences
from knowledge.settings import PROJECT_ROOT
from knowledge.staff import FaqInput, clause_for_ref, get_entry
from knowledge.text import simplified
from web.auth import api_user, db, session_user
from web.keys import SESSIONMAKER

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_TRY_CHARS = 500
MATCHES_SHOWN = 5
DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
NLU_TIMEOUT = 3.0
# The answer steps of actions/steps.py, as staff read them.
STEP_NAMES = {
    "emergency": "紧急情况（110/119/120）",
    "handed_over": "已转人工",
    "clicked_button": "点击了相关问题",
    "handoff": "请求人工服务",
    "refused": "婉拒（不当请求）",
    "foreign_language": "外语提问",
    "greeting": "问候",
    "thanks": "感谢",
    "goodbye": "道别",
    "about_bot": "询问助手本身",
    "other_city": "其他城市的政策",
    "follow_up": "追问",
    "district_fact": "区县的具体情况",
    "topic_answer": "检索知识库作答",
    "story_answer": "结合前后文作答",
    "not_covered": "资料中没有依据",
}


class AnswerTools:
    """The staff service's answer engines and the lock they are used under."""

    def __init__(self, make_session: sessionmaker[Session]) -> None:
        self.make_session = make_session
        self.engine = AnswerEngine(make_session)
        self.matcher = Matcher(self.engine)
        self.hypothetical = Hypothetical(make_session, like=self.engine)
        self.lock = threading.Lock()

    async def run(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``work(*args, **kwargs)`` in a worker thread, holding the engines' lock."""

        def locked() -> T:
            with self.lock:
                return work(*args, **kwargs)

        return await asyncio.to_thread(locked)


ANSWER_TOOLS = web.AppKey("answer_tools", AnswerTools)


def answer_tools(app: web.Application) -> AnswerTools:
    """The application's tools (``setup_answer_tools`` makes them at start-up)."""
    return app[ANSWER_TOOLS]


def setup_answer_tools(app: web.Application) -> None:
    """Make the tools once the database is set up (init_app's start-up); the engine builds its index
    on first use (about a second), not at start-up."""

    async def make(app: web.Application) -> None:
        app[ANSWER_TOOLS] = AnswerTools(app[SESSIONMAKER])

    app.on_startup.append(make)


@lru_cache(maxsize=1)
def domain_responses() -> dict[str, Any]:
    """domain.yml's fixed replies (name -> variants); empty where the file is not deployed."""
    try:
        return (yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8")) or {}).get("responses") or {}
    except (OSError, yaml.YAMLError):
        log.warning("domain.yml not readable: fixed replies are shown by name")
        return {}


def question_text(value: Any) -> str:
    """The staff member's question, checked: Invalid with a Chinese message otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("empty_text", "请输入要试问的问题。", details={"text": "请输入问题。"})
    if len(value) > MAX_TRY_CHARS:
        raise Invalid("text_too_long", f"问题太长：最多{MAX_TRY_CHARS}个字。", details={"text": "问题太长。"})
    return value.replace("\x00", "").strip()


def outcome_of(engine: AnswerEngine, text: str) -> Outcome:
    """What the bot answers to ``text`` as a first message (the impact check's ``Decide``)."""
    replies = decide(Turn(text=simplified(text)), engine)
    first = next((r for r in replies if r.cited), replies[0])
    said = "\n\n".join(reply_text(r, domain_responses()) for r in replies)
    return Outcome(faq_id=first.answer.faq_id if first.cited and first.answer else None, answer=said, step=first.step)


def _match_view(session: Session, ref: str, coverage: float, score: float) -> dict[str, Any]:
    view: dict[str, Any] = {"ref": ref, "score": round(coverage, 3), "bm25": round(score, 2)}
    if ref.startswith("faq:"):
        entry = queries.published_entry(session, entry_id=int(ref[4:]))
        view.update(faq_id=int(ref[4:]), question=entry.question if entry else "", clause=None)
        if entry is not None:
            view["clause"] = entry.clause.ref
        return view
    clause_ref, _, number = ref.removeprefix("passage:").partition("#")
    clause = queries.clause_by_ref(session, ref=clause_ref)
    parts = sentences(clause.text) if clause else []
    sentence = parts[int(number)] if number.isdigit() and int(number) < len(parts) else ""
    view.update(faq_id=None, question=sentence, clause=clause_ref)
    return view


def try_question(tools: AnswerTools, text: str, nlu: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the bot would answer to ``text`` as a resident's first message, which step decided, and
    the closest matches with their coverage (the share of the question's weight they match)."""
    words = simplified(text)
    intent = (nlu or {}).get("intent")
    confidence = float((nlu or {}).get("confidence") or 0.0)
    replies = decide(Turn(text=words, intent=intent, confidence=confidence), tools.engine)
    hits = tools.engine.hits(text=words, limit=MATCHES_SHOWN)
    outcome = inbox_outcome(tools.engine, text=words, replies=replies, intent=intent)
    with tools.make_session() as session:
        matches = [_match_view(session, h.ref, h.coverage, h.score) for h in hits]
    return {
        "reply": "\n\n".join(reply_text(r, domain_responses()) for r in replies),
        "step": replies[0].step,
        "step_name": STEP_NAMES.get(replies[0].step, replies[0].step),
        "steps": [r.step for r in replies],
        "replies": [
            {
                "step": r.step,
                "step_name": STEP_NAMES.get(r.step, r.step),
                "text": reply_text(r, domain_responses()),
                "faq_id": r.answer.faq_id if r.cited and r.answer else None,
                "clause": r.answer.clause_ref if r.cited and r.answer else None,
            }
            for r in replies
        ],
        "matches": matches,
        "nlu": nlu,
        "inbox": {"kind": outcome[0], "kind_name": KINDS[outcome[0]]} if outcome else None,
    }


async def nlu_of(text: str) -> dict[str, Any] | None:
    """NLU's intent for ``text`` from the Rasa server's /model/parse, or None when its HTTP API is off
    (no ``RASA_TOKEN``) or unreachable: the test box then decides without an intent and says so."""
    token = os.environ.get("RASA_TOKEN", "")
    if not token:
        return None
    base = os.environ.get("RASA_URL", f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}").rstrip("/")
    try:
        timeout = aiohttp.ClientTimeout(total=NLU_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as client:
            url = f"{base}/model/parse?token={quote(token)}"
            async with client.post(url, data=json.dumps({"text": simplified(text)})) as response:
                if response.status != 200:
                    return None
                parsed = await response.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        log.info("NLU not reachable for the test box: %s", exc)
        return None
    intent = (parsed or {}).get("intent") or {}
    if not intent.get("name"):
        return None
    return {"intent": intent["name"], "confidence": round(float(intent.get("confidence") or 0.0), 3)}


# -- impact ------------------------------------------------------------------------------------


def impact_of(tools: AnswerTools, *, faq_id: int | None, data: FaqInput, own_only: bool) -> Any:
    """The changed answers (knowledge.impact), in the calling worker thread."""
    with tools.make_session() as session:
        return impact.changed_answers(
            session,
            live=tools.engine,
            hypothetical=tools.hypothetical,
            decide=outcome_of,
            entry_id=faq_id,
            data=data,
            own_only=own_only,
        )


async def check_takeover(
    request: web.Request, *, faq_id: int | None, data: Mapping[str, Any], version: Any, confirmed: bool
) -> list[dict[str, Any]]:
    """Before a save of a published entry: the other entries' own questions this content would take.

    Raises ``impact.TakesOtherQuestions`` (409) if there are any and the caller did not confirm;
    returns them when confirmed (audit them with ``impact.audit_confirmation`` in the save's
    transaction). Only a published entry's change reaches residents (at once, or when its proposal
    is approved): a draft's is shown on its edit page (``impact_view``) and not asked here. Content
    the save will refuse anyway (invalid, unknown clause, missing entry) is not checked either: the
    save says what is wrong, and neither is a save based on another ``version`` than the entry's.
    The impact check runs in a worker thread.
    """
    with db(request) as session:
        if request.path.startswith("/api/"):
            api_user(request, session)
        elif session_user(request, session) is None:
            return []  # the save sends the browser to the login page
        try:
            proposed = FaqInput.from_mapping(dict(data))
            clause_for_ref(session, proposed.source)
            entry = get_entry(session, entry_id=faq_id) if faq_id is not None else None
        except StaffError:
            return []
        if entry is None or entry.status != "published" or entry.deleted_at is not None or version != entry.version:
            return []
    tools = answer_tools(request.app)
    changed = await tools.run(impact_of, tools, faq_id=faq_id, data=proposed, own_only=True)
    return impact.require_confirmation(changed, confirmed=confirmed)
