"""The promise every answer keeps: each figure a resident reads stands in the clause it cites.

One implementation, used by the knowledge-base build (``make kb`` refuses a curated entry that
breaks it), by every staff save, publication, proposal and import (``knowledge.staff``,
``knowledge.proposals``, ``knowledge.transfer``), by the live check in the admin's preview, and by
``tests/test_grounding.py`` over every published answer.

The rule:

- a *figure* is a run of digits with an optional decimal part (``20``, ``4.6``), after NFKC
  folding, so full-width ``２０`` is ``20``;
- it is grounded when the cited clause's text holds the same number, not merely the same digits
  inside a longer one: ``20`` is not grounded by ``2025``, ``4`` not by ``4.6``;
- two things in an answer are not figures of the plan and are left aside: a year range
  (``2021—2025年``, the plan's period, also with ``-``, ``~`` or ``至``) and a clause number
  (``第9条``), which the source line names anyway.

Besides figures, an answer must say something: not empty, and not the placeholder an inbox
draft starts with (``PLACEHOLDER_ANSWER``) or a similar "to be written" note.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

FIGURE = re.compile(r"\d+(?:\.\d+)?")
# A number as it stands in a text: not preceded by a digit or a decimal point, not followed by a digit
# or by a decimal part ("4" in "4.6" is not the number 4).
_NUMBER_IN_TEXT = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d]|\.\d)")
_YEAR_RANGE = re.compile(r"(?:19|20)\d{2}\s*(?:年\s*)?[—–\-－~～至到]{1,2}\s*(?:19|20)\d{2}")
_CLAUSE_NUMBER = re.compile(r"第\s*\d+\s*条")

PLACEHOLDER_ANSWER = "（待填写答复）"  # what an inbox draft's answer starts as (knowledge.inbox)
# Answers that only say "still to be written" (compared without punctuation, spaces and case).
_PLACEHOLDER_WORDS = {"待填写答复", "待填写", "待补充", "待完善", "待定", "todo", "tbd", "xxx", "无"}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def figures(answer: str) -> list[str]:
    """The figures of an answer that must be grounded, in order, each once (year ranges and clause numbers aside)."""
    text = _CLAUSE_NUMBER.sub(" ", _YEAR_RANGE.sub(" ", _fold(answer)))
    return list(dict.fromkeys(FIGURE.findall(text)))


def missing_figures(answer: str, clause_text: str) -> list[str]:
    """The figures of ``answer`` that the clause text does not state, in the order the answer gives them."""
    stated = set(_NUMBER_IN_TEXT.findall(_fold(clause_text)))
    return [figure for figure in figures(answer) if figure not in stated]


def is_placeholder(answer: str) -> bool:
    """Empty, the inbox placeholder, or only a "to be written" note."""
    core = re.sub(r"[\W_]+", "", _fold(answer)).lower()
    return not core or core in _PLACEHOLDER_WORDS or "待填写" in core


@dataclass(frozen=True)
class Problem:
    """Why an answer may not reach residents: ``code`` for programs, ``message`` in Chinese."""

    code: str  # figure_not_in_clause | placeholder_answer | empty_question
    message: str
    figures: tuple[str, ...] = ()


def check(*, question: str, answer: str, clause_ref: str, clause_text: str) -> Problem | None:
    """The first problem of an entry's content against the rule above, or None when residents may read it."""
    if not question.strip():
        return Problem("empty_question", "问题不能为空。")
    if is_placeholder(answer):
        if answer.strip():
            message = f"答复还是占位文字“{answer.strip()[:20]}”：请先写好给居民的答复，再保存或发布。"
        else:
            message = "答复不能为空：请先写好给居民的答复，再保存或发布。"
        return Problem("placeholder_answer", message)
    missing = missing_figures(answer, clause_text)
    if missing:
        shown = "、".join(f"“{f}”" for f in missing)
        return Problem(
            "figure_not_in_clause",
            f"答复中的数字{shown}在所引依据条款（{clause_ref}）的原文中找不到。"
            "答复中的每个数字都必须出自所引条款：请改正数字，或改选写有这个数字的条款。",
            tuple(missing),
        )
    return None
