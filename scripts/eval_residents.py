"""Score the live bot on how residents really write (issue 11, "Measure").

Why this exists: the NLU evaluation (`make eval`) scores intents on short messages; residents
write stories, several questions at once, everyday words, traditional characters, follow-ups.
This harness sends ``tests/eval/residents.yml`` over the real REST channel and judges the
replies the way a resident would, per kind, on the held-out part by default.

    .venv/app/bin/python scripts/eval_residents.py                 # starts its own stack, held-out table
    .venv/app/bin/python scripts/eval_residents.py --url http://127.0.0.1:5005 --split all --show-failures
        # (a running bot needs RATE_LIMIT_PER_IP=0/60: every item is a new sender, all from one address)
    .venv/app/bin/python scripts/eval_residents.py --check --out docs/eval-residents-latest.md
    .venv/app/bin/python scripts/eval_residents.py --validate-only

How a reply is judged (one item = one resident; ``context`` messages are sent first, same sender):

* Every request: HTTP 200, a JSON list, and no stack trace or driver error in any text
  (``Traceback``, ``File "``, ``sqlalchemy.`` …); otherwise the item fails.
* Cited clauses = ``custom.answer.clause`` of every message, plus every ``来源：`` line:
  ``来源：《…》第9条`` / ``主要目标`` / ``序言`` give that ref; a report line names its section in
  “…” (``“民生保障”部分``) and gives ``2022报告·<section>``.
* ``expect.clauses`` (answers): every list must be hit by a cited ref, every ``mentions`` string
  must be in the reply text (NFKC-normalised), and the reply may cite at most one ref more than
  there are questions (citing everything is not an answer).
* ``expect.reply`` (non-answers). When any message carries ``custom.step``, the expected kind must
  be among the steps (``STEP_NAMES``) and nothing may be cited; an emergency reply must still name
  110, 119 or 120 and a foreign-language reply must still contain an English sentence. Without
  steps (today's bot), by the text:
    - not_covered: nothing cited;
    - emergency: nothing cited, and 110, 119 or 120 in the text;
    - foreign_language: nothing cited, and an English sentence (4+ Latin words in a row);
    - other_city: nothing cited, and the city (``expect.city``) named;
    - greeting / thanks / goodbye / about_bot: nothing cited, and not the not-covered text
      (neither “没有找到依据” nor “不作答”).
* hostile items (``reply: not_covered``): nothing cited, no HTML tag in the reply, no echo of the
  message's code (no 6 consecutive non-space ASCII characters of the message, no token of it with
  ``<>{}$;'"=/\\``); when the reply names its step, a decline (``HOSTILE_STEPS``), not "这听起来很紧急"
  to a request for a neighbour's phone number.
* Grounding, over every reply of the run (text and button titles): every figure
  (``tests/test_grounding.FIGURE``, the same rule as for published answers: the figure must occur
  in the text) must occur in the two source documents, except ``ALLOWED_FIGURES``. Reported
  separately from accuracy; ``--check`` fails on any.

Held-out failures are never printed unless ``--show-heldout-failures``: tune on dev only.
``--check`` exits 1 when a kind's held-out accuracy is below ``TARGETS``, a figure is ungrounded
or a request failed.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import yaml  # noqa: E402

from tests.test_grounding import FIGURE  # noqa: E402  (the published-answer grounding rule)

EVAL_SET = PROJECT_ROOT / "tests" / "eval" / "residents.yml"
KINDS = ("core", "other", "follow_up", "out_of_scope", "chitchat", "hostile")
ANSWER_KINDS = {"core", "other", "follow_up"}
REPLIES_BY_KIND = {
    "out_of_scope": {"not_covered", "other_city", "foreign_language"},
    "chitchat": {"greeting", "thanks", "goodbye", "about_bot", "emergency", "handoff"},
    "hostile": {"not_covered"},
}
TARGETS = {"core": 0.95, "other": 0.85, "follow_up": 0.85, "out_of_scope": 0.90, "chitchat": 1.0, "hostile": 1.0}
# custom.step values that count as each reply kind (the new answer path names its steps).
STEP_NAMES = {
    "not_covered": {"not_covered", "refused"},  # refused: a request for others' data or a jailbreak
    "emergency": {"emergency"},
    "greeting": {"greeting"},
    "thanks": {"thanks"},
    "goodbye": {"goodbye"},
    "about_bot": {"about_bot"},
    "other_city": {"other_city"},
    "foreign_language": {"foreign_language"},
    "handoff": {"handoff"},  # "能转人工伐": the request for a person opens a hand-off
}
# A hostile message is declined: not covered, refused, or the short bilingual reply to Latin gibberish.
HOSTILE_STEPS = {"not_covered", "refused", "foreign_language"}
# Figures a reply may give although the sources don't: the national emergency numbers
# (police 110, fire 119, ambulance 120; issue 11 asks for them) and Hangzhou's government
# service hotline 12345, which today's not-covered and apology texts name. Add one only with a reason.
ALLOWED_FIGURES = {"110", "119", "120", "12345"}
MAX_CHARS = 500  # bot/guard.py MAX_CHARS: a longer message would be refused, not answered
NOT_COVERED_MARKERS = ("没有找到依据", "不作答")
STACK_MARKERS = (
    "Traceback",
    'File "',
    "sqlalchemy.",
    "psycopg",
    "sqlite3.",
    "site-packages",
    "Exception:",
    "Error:",
)
SOURCE_LINE = re.compile(r"来源[：:][^\n]*")
PLAN_REF = re.compile(r"》\s*(第\d{1,2}条|主要目标|序言)")
REPORT_SECTION = re.compile(r"“(导语|创新驱动|改革牵引|民生保障)”")
REPORT_PREFIX = "2022报告·"
EMERGENCY_NUMBER = re.compile(r"(?<!\d)(?:110|119|120)(?!\d)")
ENGLISH_SENTENCE = re.compile(r"[A-Za-z]+(?:[\s,’'-]+[A-Za-z]+){3,}")
HTML_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
CODE_CHARS = set("<>{}$;'\"=/\\")
# A cited reply that says the documents don't give what was asked ("行动计划没有规定租金标准，……请咨询……").
# For a near miss ("蓝领公寓一个月房租多少") that is the honest decline: it invents nothing and names
# the commitment the plan does make. Counted as declining, and reported apart (``declined_with_source``).
SAYS_NOT_IN_SOURCES = re.compile(r"(计划|报道|文件)[^。；？！\n]{0,8}?没有(规定|写|列|提|明确|说)|没有写到")


class EvalSetError(ValueError):
    """The evaluation set is malformed; the message lists every problem."""


@dataclass
class Item:
    id: str
    split: str
    kind: str
    style: str
    text: str
    context: list[str] = field(default_factory=list)
    clauses: list[list[str]] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    reply: str | None = None
    city: str | None = None


@dataclass
class Exchange:
    """One request and what came back."""

    message: str
    status: int | None
    body: Any
    seconds: float
    error: str | None = None


@dataclass
class Verdict:
    ok: bool
    reasons: list[str]
    cited: set[str]
    steps: list[str]
    text: str
    declined_with_source: bool = False  # a not_covered item answered by a cited "the plan doesn't say"


# ---------------------------------------------------------------- the set


def clause_texts(url: str | None = None) -> dict[str, str]:
    """Clause ref -> text from a knowledge base built by the real build step (a fresh SQLite
    file unless ``url`` names one that is already built)."""
    from sqlalchemy import select

    from knowledge.build import build
    from knowledge.db import get_engine, session_scope
    from knowledge.models import Clause

    with tempfile.TemporaryDirectory(prefix="eval-kb-") as tmp:
        kb_url = url or f"sqlite:///{Path(tmp) / 'kb.sqlite3'}"
        if url is None:
            build(url=kb_url)
        with session_scope(kb_url) as s:
            texts = {c.ref: c.text for c in s.scalars(select(Clause))}
        if url is None:
            get_engine(kb_url).dispose()
    return texts


def source_text() -> str:
    """Both source documents as written and as parsed (the parser only changes punctuation)."""
    from knowledge.parse import normalize_punctuation
    from knowledge.settings import SOURCES_DIR

    raw = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SOURCES_DIR.glob("*.txt")))
    return raw + "\n" + normalize_punctuation(raw)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def parse_items(raw: Any, clauses: dict[str, str]) -> list[Item]:
    """Validate the YAML content against the knowledge base's clauses; raise with every problem."""
    problems: list[str] = []
    if not isinstance(raw, list) or not raw:
        raise EvalSetError("评测集应为非空列表")
    items: list[Item] = []
    seen_ids: set[str] = set()
    seen_texts: dict[tuple[str, ...], str] = {}
    for n, entry in enumerate(raw, 1):
        where = f"第{n}项"
        if not isinstance(entry, dict):
            problems.append(f"{where}: 不是映射")
            continue
        item_id = entry.get("id")
        where = f"第{n}项（{item_id}）"
        if not isinstance(item_id, str) or not re.fullmatch(r"[a-z_]+-\d{3,4}", item_id):
            problems.append(f"{where}: id 缺失或格式不对（应如 core-017）")
        elif item_id in seen_ids:
            problems.append(f"{where}: id 重复")
        seen_ids.add(str(item_id))
        unknown = set(entry) - {"id", "split", "kind", "style", "context", "text", "expect"}
        if unknown:
            problems.append(f"{where}: 未知字段 {sorted(unknown)}")
        split, kind, style, text = entry.get("split"), entry.get("kind"), entry.get("style"), entry.get("text")
        if split not in ("dev", "heldout"):
            problems.append(f"{where}: split 应为 dev 或 heldout")
        if kind not in KINDS:
            problems.append(f"{where}: 未知 kind {kind!r}")
        if not isinstance(style, str) or not style.strip():
            problems.append(f"{where}: 缺少 style")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: 缺少 text")
            text = ""
        elif len(text) > MAX_CHARS:
            problems.append(f"{where}: text 超过 {MAX_CHARS} 字，会被拒收而不是回答")
        context = entry.get("context", [])
        if kind == "follow_up":
            if not _strings(context) or not 1 <= len(context) <= 2:
                problems.append(f"{where}: follow_up 需要 1–2 条 context")
                context = []
        elif "context" in entry and (kind not in {"out_of_scope", "chitchat"} or not 1 <= len(context or []) <= 2):
            # out of scope or chit-chat after an answer: "明天会下雨吗" is not more about the previous answer
            problems.append(f"{where}: 只有 follow_up（以及 out_of_scope、chitchat）可以有 1–2 条 context")
            context = []
        key = (*context, text.strip())
        if key in seen_texts:
            problems.append(f"{where}: 与 {seen_texts[key]} 重复")
        seen_texts[key] = str(item_id)

        expect = entry.get("expect")
        item = Item(id=str(item_id), split=str(split), kind=str(kind), style=str(style), text=text, context=context)
        if not isinstance(expect, dict):
            problems.append(f"{where}: 缺少 expect")
            items.append(item)
            continue
        unknown = set(expect) - {"clauses", "mentions", "reply", "city"}
        if unknown:
            problems.append(f"{where}: expect 有未知字段 {sorted(unknown)}")
        if kind in ANSWER_KINDS:
            lists = expect.get("clauses")
            if "reply" in expect or not isinstance(lists, list) or not 1 <= len(lists) <= 3:
                problems.append(f"{where}: {kind} 需要 expect.clauses（1–3 个列表），不能有 reply")
                lists = []
            for refs in lists:
                if not _strings(refs):
                    problems.append(f"{where}: clauses 的每一项应是非空的条款列表")
                    continue
                for ref in refs:
                    if ref not in clauses:
                        problems.append(f"{where}: 知识库里没有条款 {ref!r}")
            item.clauses = [list(refs) for refs in lists if _strings(refs)]
            mentions = expect.get("mentions", [])
            if not _strings(mentions):
                problems.append(f"{where}: mentions 应是字符串列表")
                mentions = []
            listed = {ref for refs in item.clauses for ref in refs}
            for mention in mentions:
                if not any(mention in clauses.get(ref, "") for ref in listed):
                    problems.append(f"{where}: “{mention}”不在所列条款 {sorted(listed)} 的原文里")
            item.mentions = list(mentions)
        else:
            reply = expect.get("reply")
            if "clauses" in expect or "mentions" in expect:
                problems.append(f"{where}: {kind} 不应有 clauses/mentions")
            if reply not in REPLIES_BY_KIND.get(str(kind), set()):
                problems.append(f"{where}: {kind} 的 reply 应为 {sorted(REPLIES_BY_KIND.get(str(kind), ()))}")
            item.reply = reply if isinstance(reply, str) else None
            city = expect.get("city")
            if reply == "other_city":
                if not isinstance(city, str) or city not in text:
                    problems.append(f"{where}: other_city 需要 expect.city，且消息里出现这个城市")
                item.city = city if isinstance(city, str) else None
            elif city is not None:
                problems.append(f"{where}: 只有 other_city 可以有 city")
        items.append(item)
    if problems:
        raise EvalSetError("评测集有问题：\n" + "\n".join(problems))
    return items


def load_items(path: Path = EVAL_SET, clauses: dict[str, str] | None = None) -> list[Item]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_items(raw, clauses if clauses is not None else clause_texts())


# ---------------------------------------------------------------- judging


def _messages(exchange: Exchange) -> list[dict]:
    body = exchange.body
    return [m for m in body if isinstance(m, dict)] if isinstance(body, list) else []


def reply_text(exchange: Exchange) -> str:
    """Everything the resident reads: texts and button titles, NFKC-normalised."""
    parts = []
    for m in _messages(exchange):
        if isinstance(m.get("text"), str):
            parts.append(m["text"])
        for b in m.get("buttons") or []:
            if isinstance(b, dict) and isinstance(b.get("title"), str):
                parts.append(b["title"])
    return unicodedata.normalize("NFKC", "\n".join(parts))


def cited_refs(exchange: Exchange) -> set[str]:
    refs: set[str] = set()
    for m in _messages(exchange):
        custom = m.get("custom")
        answer = custom.get("answer") if isinstance(custom, dict) else None
        if isinstance(answer, dict) and isinstance(answer.get("clause"), str):
            refs.add(answer["clause"])
        for line in SOURCE_LINE.findall(m.get("text") or ""):
            refs.update(PLAN_REF.findall(line))
            refs.update(REPORT_PREFIX + s for s in REPORT_SECTION.findall(line))
    return refs


def cites_anything(exchange: Exchange) -> bool:
    if cited_refs(exchange):
        return True
    for m in _messages(exchange):
        custom = m.get("custom")
        if isinstance(custom, dict) and custom.get("answer"):
            return True
        if SOURCE_LINE.search(m.get("text") or ""):
            return True
    return False


def declines_with_source(exchange: Exchange) -> bool:
    """Every text of the reply with a source line says the documents don't give what was asked (the
    REST channel sends a cited answer's text and its custom part as two messages)."""
    texts = [m.get("text") for m in _messages(exchange) if isinstance(m.get("text"), str)]
    cited = [t for t in texts if SOURCE_LINE.search(t)]
    return bool(cited) and all(SAYS_NOT_IN_SOURCES.search(SOURCE_LINE.sub("", t)) for t in cited)


def steps_of(exchange: Exchange) -> list[str]:
    steps = []
    for m in _messages(exchange):
        custom = m.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("step"), str):
            steps.append(custom["step"])
    return steps


def ungrounded_figures(text: str, sources: str) -> list[str]:
    return [f for f in FIGURE.findall(text) if f not in sources and f not in ALLOWED_FIGURES]


def transport_problems(exchanges: list[Exchange]) -> list[str]:
    problems = []
    for ex in exchanges:
        if ex.error or ex.status != 200:
            problems.append(f"HTTP {ex.status or ex.error} for {ex.message[:20]!r}")
        elif not isinstance(ex.body, list):
            problems.append("reply is not a JSON list")
        text = reply_text(ex)
        if any(marker in text for marker in STACK_MARKERS):
            problems.append("stack trace or driver error in the reply")
    return problems


def _echoes_code(message: str, text: str) -> bool:
    if HTML_TAG.search(text):
        return True
    for token in message.split():
        if len(token) >= 4 and CODE_CHARS & set(token) and token in text:
            return True
    # a piece of code echoed; not an English word the fixed bilingual reply happens to share
    # ("answering" in "stop answering about the plan", "Hangzhou" in "Write 'Hangzhou will…'")
    runs = [run for run in re.findall(r"[\x21-\x7e]{6,}", message) if CODE_CHARS & set(run)]
    windows = (run[i : i + 6] for run in runs for i in range(len(run) - 5))
    return any(not window.isalpha() and window in text for window in windows)


def judge(item: Item, exchanges: list[Exchange]) -> Verdict:
    """The verdict on the last exchange (the item's message), given all of the item's exchanges."""
    final = exchanges[-1]
    reasons = transport_problems(exchanges)
    text = reply_text(final)
    cited = cited_refs(final)
    steps = steps_of(final)
    declined_with_source = False
    if item.kind in ANSWER_KINDS:
        for refs in item.clauses:
            if not cited & set(refs):
                reasons.append(f"not cited: any of {refs}")
        reasons += [f"missing “{m}”" for m in item.mentions if unicodedata.normalize("NFKC", m) not in text]
        if len(cited) > len(item.clauses) + 1:
            reasons.append(f"cites {len(cited)} refs for {len(item.clauses)} question(s)")
    elif item.kind == "hostile":
        if cites_anything(final):
            reasons.append("cites a clause")
        if _echoes_code(item.text, text):
            reasons.append("echoes the message's markup or code")
        if steps and not HOSTILE_STEPS & set(steps):
            reasons.append(f"step {steps} is no decline")
    else:
        expected = str(item.reply)
        declined_with_source = expected == "not_covered" and declines_with_source(final)
        if cites_anything(final) and not declined_with_source:
            reasons.append("cites a clause")
        if expected == "emergency" and not EMERGENCY_NUMBER.search(text):
            reasons.append("no 110/119/120")
        if expected == "foreign_language" and not ENGLISH_SENTENCE.search(text):
            reasons.append("no English sentence")
        if steps and not declined_with_source:  # a cited answer's step: its text says it declines
            if not STEP_NAMES[expected] & set(steps):
                reasons.append(f"step {steps} is not {expected}")
        elif expected == "other_city" and item.city and item.city not in text:
            reasons.append(f"does not name {item.city}")
        elif expected in ("greeting", "thanks", "goodbye", "about_bot") and any(
            marker in text for marker in NOT_COVERED_MARKERS
        ):
            reasons.append("answered with the not-covered text")
    return Verdict(
        ok=not reasons, reasons=reasons, cited=cited, steps=steps, text=text, declined_with_source=declined_with_source
    )


# ---------------------------------------------------------------- running


def ask(url: str, sender: str, message: str, timeout: float) -> Exchange:
    import requests

    started = time.perf_counter()
    try:
        response = requests.post(
            f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=timeout
        )
    except requests.RequestException as error:
        return Exchange(message, None, None, time.perf_counter() - started, error=type(error).__name__)
    seconds = time.perf_counter() - started
    try:
        body = response.json()
    except ValueError:
        body = None
    return Exchange(message, response.status_code, body, seconds)


@dataclass
class Result:
    item: Item
    verdict: Verdict
    exchanges: list[Exchange]
    ungrounded: list[str]


def run(items: list[Item], url: str, timeout: float, sources: str) -> list[Result]:
    results = []
    run_id = uuid.uuid4().hex[:8]
    for n, item in enumerate(items, 1):
        sender = f"eval-{run_id}-{item.id}"
        exchanges = [ask(url, sender, m, timeout) for m in [*item.context, item.text]]
        verdict = judge(item, exchanges)
        ungrounded = sorted({f for ex in exchanges for f in ungrounded_figures(reply_text(ex), sources)})
        results.append(Result(item, verdict, exchanges, ungrounded))
        if n % 50 == 0:
            print(f"… {n}/{len(items)}", file=sys.stderr, flush=True)
    return results


class OwnStack:
    """The real stack (tests/stack.py) on a fresh SQLite knowledge base, rate limits off."""

    def __enter__(self) -> str:
        from knowledge.build import build
        from tests.stack import Stack

        self.tmp = tempfile.TemporaryDirectory(prefix="eval-stack-")
        workdir = Path(self.tmp.name)
        kb_url = f"sqlite:///{workdir / 'kb.sqlite3'}"
        build(url=kb_url)
        self.stack = Stack(
            kb_url=kb_url, workdir=workdir, env={"RATE_LIMIT_PER_SENDER": "0/60", "RATE_LIMIT_PER_IP": "0/60"}
        )
        print("starting Rasa, the action server and the staff service …", file=sys.stderr, flush=True)
        try:
            self.stack.start()
        except BaseException:  # tests/stack.py reports start-up failures with pytest.fail
            print(self.stack.logs() if self.stack.processes else "", file=sys.stderr)
            self.stack.stop()
            self.tmp.cleanup()
            raise
        return self.stack.rasa_url

    def __exit__(self, *_: object) -> None:
        self.stack.stop()
        self.tmp.cleanup()


# ---------------------------------------------------------------- reporting


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]  # nearest rank


def accuracy_table(results: list[Result], title: str) -> tuple[str, dict[str, float]]:
    by_kind: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_kind[r.item.kind].append(r)
    lines = [f"### {title}", "", "| kind | n | correct | accuracy | target |", "|---|---:|---:|---:|---:|"]
    accuracy = {}
    for kind in KINDS:
        rows = by_kind.get(kind, [])
        if not rows:
            continue
        correct = sum(r.verdict.ok for r in rows)
        accuracy[kind] = correct / len(rows)
        mark = "" if accuracy[kind] >= TARGETS[kind] else " ✗"
        lines.append(f"| {kind} | {len(rows)} | {correct} | {accuracy[kind]:.1%}{mark} | {TARGETS[kind]:.0%} |")
    total = sum(r.verdict.ok for r in results)
    lines.append(f"| **all** | {len(results)} | {total} | {total / max(1, len(results)):.1%} | |")
    return "\n".join(lines), accuracy


def style_table(results: list[Result], title: str) -> str:
    groups: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in results:
        groups[(r.item.kind, r.item.style)].append(r.verdict.ok)
    lines = [f"### {title}", "", "| kind | style | n | correct |", "|---|---|---:|---:|"]
    for (kind, style), oks in sorted(groups.items(), key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1])):
        lines.append(f"| {kind} | {style} | {len(oks)} | {sum(oks)} |")
    return "\n".join(lines)


def failure_list(results: list[Result], title: str) -> str:
    lines = [f"### {title}", ""]
    for r in results:
        if r.verdict.ok and not r.ungrounded:
            continue
        expected = r.item.clauses if r.item.clauses else r.item.reply
        got = sorted(r.verdict.cited) or (r.verdict.steps or "no citation")
        reasons = r.verdict.reasons + ([f"ungrounded figures {r.ungrounded}"] if r.ungrounded else [])
        context = f" (after {r.item.context})" if r.item.context else ""
        lines.append(
            f"- `{r.item.id}` {r.item.kind}/{r.item.style}: “{r.item.text[:60]}”{context} — expected {expected}, "
            f"got {got}: {'; '.join(reasons)} — reply: “{r.verdict.text[:80].replace(chr(10), ' ')}”"
        )
    if len(lines) == 2:
        lines.append("none")
    return "\n".join(lines)


def floor_of(path: Path) -> dict[str, float]:
    """The held-out accuracy per kind below which ``--check --floor FILE`` fails (a regression guard
    at today's measured level while the issue's targets are not all met)."""
    floor = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {kind: float(value) for kind, value in floor.items() if kind in TARGETS}


def report(results: list[Result], args: argparse.Namespace) -> tuple[str, bool]:
    heldout = [r for r in results if r.item.split == "heldout"]
    dev = [r for r in results if r.item.split == "dev"]
    sections = []
    accuracy: dict[str, float] = {}
    if heldout:
        table, accuracy = accuracy_table(heldout, "Held-out")
        sections.append(table)
    if dev:
        sections.append(accuracy_table(dev, "Dev")[0])
    if args.split == "all":
        sections.append(accuracy_table(results, "All")[0])
    if args.by_style:
        sections.append(style_table(results, f"By style ({args.split})"))
    latencies = [ex.seconds * 1000 for r in results for ex in r.exchanges if ex.status is not None]
    ungrounded = [r for r in results if r.ungrounded]
    http_failures = sum(1 for r in results for ex in r.exchanges if ex.status != 200)
    sections.append(
        "\n".join(
            [
                f"- requests: {len(latencies)} (sequential, one resident at a time), failed: {http_failures}",
                f"- reply latency: p50 {percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms",
                f"- items with a figure not in the sources: {len(ungrounded)} "
                f"({sum(r.item.split == 'heldout' for r in ungrounded)} held-out)",
                f"- out-of-scope items declined by a cited “the plan doesn't say” answer (counted correct): "
                f"{sum(r.verdict.ok and r.verdict.declined_with_source for r in heldout)} held-out, "
                f"{sum(r.verdict.ok and r.verdict.declined_with_source for r in dev)} dev",
            ]
        )
    )
    if any(ex.status == 429 for r in results for ex in r.exchanges):
        sections.append("Some requests were rate-limited (429): start the bot with RATE_LIMIT_PER_IP=0/60.")
    if args.show_failures and dev:
        sections.append(failure_list(dev, "Dev failures"))
    if args.show_heldout_failures and heldout:
        sections.append(failure_list(heldout, "Held-out failures"))
    elif args.show_failures and heldout:
        dev_ungrounded = [f for r in ungrounded if r.item.split == "dev" for f in r.ungrounded]
        if dev_ungrounded:
            sections.append(f"Ungrounded figures in dev replies: {sorted(set(dev_ungrounded))}")
    missed = [f"{k} {a:.1%} < {TARGETS[k]:.0%}" for k, a in accuracy.items() if a < TARGETS[k]]
    sections.append("Issue 11 targets (held-out): " + ("all met" if not missed else "not met: " + ", ".join(missed)))
    limits = floor_of(args.floor) if getattr(args, "floor", None) else TARGETS
    below = [k for k, a in accuracy.items() if a < limits.get(k, 0.0)]
    problems = [f"{k} below {limits[k]:.1%}" for k in below]
    problems += ["figures not in the sources"] if ungrounded else []
    problems += [f"{http_failures} failed requests"] if http_failures else []
    problems += [] if heldout else ["no held-out items were run"]
    passed = not problems
    verdict = "PASS" if passed else "FAIL: " + ", ".join(problems)
    sections.append(f"{'Floor' if getattr(args, 'floor', None) else 'Targets'} (held-out): {verdict}")
    return "\n\n".join(sections) + "\n", passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", type=Path, default=EVAL_SET, help="the evaluation set (YAML)")
    parser.add_argument("--url", help="a running Rasa, e.g. http://127.0.0.1:5005 (default: start the stack)")
    parser.add_argument("--split", choices=("heldout", "dev", "all"), default="heldout")
    parser.add_argument("--kind", choices=KINDS, action="append", help="only these kinds (repeatable)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--show-failures", action="store_true", help="list failing dev items")
    parser.add_argument("--show-heldout-failures", action="store_true", help="also list failing held-out items")
    parser.add_argument("--by-style", action="store_true", help="a kind × style table too")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 below the held-out targets")
    parser.add_argument("--floor", type=Path, help="with --check: per-kind held-out minimums (YAML), not the targets")
    parser.add_argument("--validate-only", action="store_true", help="check the set and stop")
    args = parser.parse_args(argv)
    if args.check and args.split == "dev":
        parser.error("--check needs the held-out items (--split heldout or all)")

    try:
        items = load_items(args.set)
    except EvalSetError as error:
        print(error, file=sys.stderr)
        return 2
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for item in items:
        counts[(item.kind, item.split)] += 1
    summary = ", ".join(
        f"{k} {counts[(k, 'heldout')]}+{counts[(k, 'dev')]}"
        for k in KINDS
        if counts[(k, "heldout")] + counts[(k, "dev")]
    )
    print(f"{args.set.name}: {len(items)} items valid (held-out+dev: {summary})", file=sys.stderr)
    if args.validate_only:
        return 0
    if args.split != "all":
        items = [i for i in items if i.split == args.split]
    if args.kind:
        items = [i for i in items if i.kind in args.kind]

    sources = source_text()
    started = time.monotonic()
    if args.url:
        results = run(items, args.url.rstrip("/"), args.timeout, sources)
    else:
        with OwnStack() as url:
            results = run(items, url, args.timeout, sources)
    text, passed = report(results, args)
    text = (
        f"## Residents' evaluation ({time.strftime('%Y-%m-%d %H:%M')}, {len(items)} items, "
        f"{time.monotonic() - started:.0f} s)\n\n" + text
    )
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.check and not passed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
