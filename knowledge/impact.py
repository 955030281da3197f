"""Impact before publishing: which known questions an edit would answer differently (issue 14).

Known questions are every entry's own question and phrasings, the questions of the evaluation set
(tests/eval/residents.yml, when the file is there) and the inbox's history. For each that the edit
could touch, the answer before (the live knowledge base) and after (the same knowledge base with
the entry as proposed, published) are compared; those that differ are listed with both answers.

"After" is computed with the real answer code on a *hypothetical* knowledge base: the proposed
content is written into the entry inside a transaction that is always rolled back, and a second
answer engine, bound to that transaction, answers from it (``Hypothetical``). Nothing is ever
committed, so residents never see it. Only questions that share informative words with the old or
the new content are asked (``CANDIDATE_COVERAGE``): no other answer can change, since an entry
answers only what it covers. The decision itself is passed in (``Decide``): the staff service gives
the bot's own ``actions.steps.decide``, which this package may not import.

Taking another entry's own question (its question or one of its phrasings would be answered by
this entry after the edit) needs an explicit confirmation (``TakesOtherQuestions``, 409), and the
confirmation is audited (``audit_confirmation``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.answering import AnswerEngine
from knowledge.errors import Closed
from knowledge.models import FaqEntry, StaffUser, UnansweredQuestion
from knowledge.settings import PROJECT_ROOT
from knowledge.staff import FaqInput, apply_content, audit, clause_for_ref, get_entry
from knowledge.text import normalize, terms

EVAL_FILE = PROJECT_ROOT / "tests" / "eval" / "residents.yml"
# A question whose informative weight the old or the new content covers less than this cannot be
# answered by the entry before or after (an answer needs 15 % even with NLU's help, actions/steps.py).
CANDIDATE_COVERAGE = 0.1
MAX_INBOX_QUESTIONS = 2000
MAX_LISTED = 200


@dataclass(frozen=True)
class Known:
    """A question whose answer staff would not want changed unseen."""

    text: str
    source: str  # entry | eval | inbox
    owner: int | None = None  # entry: the entry whose own question or phrasing it is


@dataclass(frozen=True)
class Outcome:
    """What the bot answers to one question: the entry that answered (None: a clause, a fixed
    reply or "not covered"), the text the resident reads, and the deciding step."""

    faq_id: int | None
    answer: str
    step: str

    def view(self) -> dict[str, Any]:
        return {"faq_id": self.faq_id, "answer": self.answer, "step": self.step}


# The bot's decision for one question on one engine (web/impact_api.py passes actions.steps.decide).
Decide = Callable[[AnswerEngine, str], Outcome]


class TakesOtherQuestions(Closed):
    """The edit would answer another entry's own question; saving needs ``confirm_takeover``."""

    def __init__(self, taken: list[dict[str, Any]]) -> None:
        listed = "；".join(f"“{t['question']}”（条目 #{t['owner_faq_id']}）" for t in taken[:5])
        more = f"等 {len(taken)} 个问题" if len(taken) > 5 else ""
        super().__init__(
            "takes_other_questions",
            f"保存后，其他条目自己的问题将改由本条目回答：{listed}{more}。"
            "如确有此意，请勾选“我确认”后再保存（会记入审计日志）；否则请修改问法或答复。",
            details={"confirm_takeover": "请确认：本条目将回答其他条目自己的问题。"},
            fields={"changed": taken},
        )


# -- known questions ---------------------------------------------------------------------------


def eval_questions(path: Path = EVAL_FILE) -> list[str]:
    """The evaluation set's messages (follow-ups without their context are left out); none without the file."""
    try:
        stat = path.stat()
    except OSError:
        return []
    return list(_eval_questions(path, stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=2)
def _eval_questions(path: Path, mtime_ns: int, size: int) -> tuple[str, ...]:
    """Read once per version of the file: parsing its 4,000 items took half of a preview's time."""
    try:
        items = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or []
    except (OSError, yaml.YAMLError):
        return ()
    return tuple(str(i["text"]) for i in items if isinstance(i, dict) and i.get("text") and not i.get("context"))


# libyaml's parser when PyYAML was built with it (the wheels are), else the pure-Python one
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def known_questions(session: Session, *, own_only: bool = False, eval_path: Path = EVAL_FILE) -> list[Known]:
    """Every entry's question and phrasings (deleted entries aside), then the evaluation set and the
    inbox's questions (unless ``own_only``); each text once, the first source kept."""
    found: dict[str, Known] = {}

    def add(text: str, source: str, owner: int | None = None) -> None:
        key = normalize(text).strip()
        if key and key not in found:
            found[key] = Known(text=text, source=source, owner=owner)

    stmt = select(FaqEntry.id, FaqEntry.question, FaqEntry.alternatives).where(FaqEntry.deleted_at.is_(None))
    for entry_id, question, alternatives in session.execute(stmt.order_by(FaqEntry.id)):
        for text in [question, *(alternatives or [])]:
            add(text, "entry", entry_id)
    if not own_only:
        for text in eval_questions(eval_path):
            add(text, "eval")
        inbox = select(UnansweredQuestion.text).order_by(UnansweredQuestion.last_seen.desc())
        for text in session.scalars(inbox.limit(MAX_INBOX_QUESTIONS)):
            add(text, "inbox")
    return list(found.values())


# -- the knowledge base as it would be -----------------------------------------------------------


class Hypothetical:
    """An answer engine that answers from the knowledge base with one entry as proposed, published.

    The change lives in a transaction that is rolled back when ``applied`` ends. One at a time:
    callers hold a lock (the engine updates its index in place, like every AnswerEngine).
    """

    def __init__(self, make_session: sessionmaker[Session], *, like: AnswerEngine | None = None) -> None:
        self._make_session = make_session
        self._session: Session | None = None
        self.engine = AnswerEngine(self._current)  # type: ignore[arg-type]  # a factory of sessions
        if like is not None:  # the live engine: each question is embedded once for both (under its lock)
            self.engine.share_meaning_of(like)

    def _current(self) -> Any:
        assert self._session is not None, "only inside Hypothetical.applied()"
        return nullcontext(self._session)

    @contextmanager
    def applied(self, *, entry_id: int | None, data: FaqInput) -> Iterator[tuple[AnswerEngine, int]]:
        """The engine and the (hypothetical) entry's id while the change is in place."""
        session = self._make_session()
        try:
            clause = clause_for_ref(session, data.source)
            if entry_id is None:
                entry = FaqEntry(topic=data.topic, question="", alternatives=[], answer="", clause=clause)
                entry.updated_by = "impact"
                session.add(entry)
            else:
                entry = get_entry(session, entry_id=entry_id)
            apply_content(entry, data, clause, actor="impact")
            entry.status, entry.deleted_at = "published", None
            session.flush()
            self._session = session
            yield self.engine, entry.id
        finally:
            self._session = None
            # The engine keeps what it read (the clauses of its passages, entries) for the next call: out
            # of the session first, as loaded, or the rollback expires them and the next call can't read them.
            session.expunge_all()
            session.rollback()
            session.close()


# -- what changes ------------------------------------------------------------------------------


def _weights(engine: AnswerEngine, session_factory: Any) -> Callable[[str], float]:
    with session_factory() as session:
        index = engine._current_index(session)  # the search's own IDF (no public accessor yet)
    unknown = index.unknown_idf

    def weight(term: str) -> float:
        value = index.idf(term)
        return unknown if value is None else value

    return weight


def _content_terms(texts: list[str]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        found.update(terms(text))
    return found


def candidates(known: list[Known], *, contents: list[list[str]], weight: Callable[[str], float]) -> list[Known]:
    """The known questions that one of ``contents`` (each an entry's texts) covers at least a little."""
    covered = [_content_terms(texts) for texts in contents]
    chosen = []
    for item in known:
        query = set(terms(item.text))
        total = sum(weight(t) for t in query)
        if total and any(sum(weight(t) for t in query & c) / total >= CANDIDATE_COVERAGE for c in covered):
            chosen.append(item)
    return chosen


# The live answers of the last previews, while the knowledge base stays as it was: the second
# preview of an edit (and of any other edit before the next change) decides only "after".
_LIVE: dict[str, Any] = {"key": None, "outcomes": {}}


def _live_outcomes(live: AnswerEngine, decide: Decide) -> dict[str, Outcome]:
    """The outcomes decided on ``live`` so far, forgotten when its knowledge base changes (its
    ``generation``, read after ``_weights`` brought its index up to date) or another engine asks."""
    key = (id(live), live.generation, decide)
    if _LIVE["key"] != key:
        _LIVE["key"], _LIVE["outcomes"] = key, {}
    outcomes: dict[str, Outcome] = _LIVE["outcomes"]
    return outcomes


def entry_texts(entry: FaqEntry | None) -> list[str]:
    return [] if entry is None else [entry.question, *(entry.alternatives or []), entry.answer]


def changed_answers(
    session: Session,
    *,
    live: AnswerEngine,
    hypothetical: Hypothetical,
    decide: Decide,
    entry_id: int | None,
    data: FaqInput,
    own_only: bool = False,
) -> list[dict[str, Any]]:
    """The known questions whose answer differs between now and after publishing ``data`` as entry
    ``entry_id`` (None: a new entry), each with both answers; another entry's own questions that
    this entry would take (``takes_own_question``) first."""
    current = get_entry(session, entry_id=entry_id) if entry_id is not None else None
    known = known_questions(session, own_only=own_only)
    weight = _weights(live, live.make_session)
    new_texts = [data.question, *data.alternatives, data.answer]
    asked = candidates(known, contents=[entry_texts(current), new_texts], weight=weight)
    if not asked:
        return []
    known_before = _live_outcomes(live, decide)
    before = {}
    for item in asked:
        if item.text not in known_before:
            known_before[item.text] = decide(live, item.text)
        before[item.text] = known_before[item.text]
    with hypothetical.applied(entry_id=entry_id, data=data) as (engine, this_id):
        after = {item.text: decide(engine, item.text) for item in asked}
    changed = []
    for item in asked:
        old, new = before[item.text], after[item.text]
        if (old.faq_id, old.answer) == (new.faq_id, new.answer):
            continue
        by_this_after = new.faq_id == this_id
        after_view = new.view()
        if entry_id is None and by_this_after:
            after_view["faq_id"] = None  # the new entry has no id until it is saved
        changed.append(
            {
                "question": item.text,
                "source": item.source,
                "owner_faq_id": item.owner,
                "by_this_entry": by_this_after,  # after publishing, this entry answers it
                # another entry answered its own question, and this one would: a draft's question is nobody's yet
                "takes_own_question": item.owner not in (None, entry_id) and old.faq_id == item.owner and by_this_after,
                "before": old.view(),
                "after": after_view,
            }
        )
    changed.sort(key=lambda c: (not c["takes_own_question"], c["source"] != "entry", c["question"]))
    return changed[:MAX_LISTED]


def taken_questions(changed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in changed if c["takes_own_question"]]


def require_confirmation(changed: list[dict[str, Any]], *, confirmed: bool) -> list[dict[str, Any]]:
    """The taken questions; TakesOtherQuestions (409) if there are any and the caller did not confirm."""
    taken = taken_questions(changed)
    if taken and not confirmed:
        raise TakesOtherQuestions(taken)
    return taken


def audit_confirmation(session: Session, *, user: StaffUser, entry_id: int, taken: list[dict[str, Any]]) -> None:
    """Audit that ``user`` confirmed this entry takes other entries' questions (nothing if none)."""
    if not taken:
        return
    listed = "；".join(f"{t['question']}（原条目 faq:{t['owner_faq_id']}）" for t in taken[:20])
    audit(
        session,
        actor=user.username,
        action="faq.takeover",
        target=f"faq:{entry_id}",
        detail=f"确认本条目将回答其他条目的 {len(taken)} 个问题：{listed}",
    )
