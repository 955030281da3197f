"""Every figure a resident reads in an answer stands in the clause that answer cites.

The rule itself is ``knowledge.grounding`` (shared with the build and the staff service);
``FIGURE`` stays importable from here for scripts/eval_residents.py.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from knowledge import grounding
from knowledge.db import session_scope
from knowledge.grounding import FIGURE  # noqa: F401  (scripts/eval_residents.py imports it from here)
from knowledge.models import Clause, FaqEntry


def test_every_figure_in_a_published_answer_appears_in_its_clause(kb_url: str):
    problems = []
    with session_scope(kb_url) as s:
        entries = s.scalars(
            select(FaqEntry)
            .options(joinedload(FaqEntry.clause).joinedload(Clause.document))
            .where(FaqEntry.status == "published")
        ).all()
        assert len(entries) >= 100
        for entry in entries:
            missing = grounding.missing_figures(entry.answer, entry.clause.text)
            if missing:
                problems.append(f"{entry.key} cites {entry.clause.ref} but says {missing}")
    assert not problems, "\n".join(problems)


def clause_text(kb_url: str, ref: str) -> str:
    with session_scope(kb_url) as s:
        return s.scalar(select(Clause.text).where(Clause.ref == ref))


def test_the_check_catches_an_invented_figure(kb_url: str):
    """The two figures of issue 13: 20万 under 第9条, and 4.6 (a 主要目标 figure) under 第8条."""
    assert grounding.missing_figures("加装电梯每台补贴20万元。", clause_text(kb_url, "第9条")) == ["20"]
    assert grounding.missing_figures("每千人口托位4.6个。", clause_text(kb_url, "第8条")) == ["4.6"]
    assert grounding.missing_figures("每千人口托位4.6个。", clause_text(kb_url, "主要目标")) == []


def test_a_figure_must_stand_as_the_same_number_not_inside_another():
    clause = "到2025年，每千人口拥有3岁以下婴幼儿托位数4.6个。"
    assert grounding.missing_figures("托位20个", clause) == ["20"]  # "20" only occurs inside "2025"
    assert grounding.missing_figures("托位4个", clause) == ["4"]  # "4" only occurs inside "4.6"
    assert grounding.missing_figures("每千人口4.6个，3岁以下", clause) == []
    assert grounding.missing_figures("托位４.６个", clause) == []  # full-width digits are the same figures


def test_year_ranges_and_clause_numbers_are_not_figures():
    clause = "推进城镇老旧小区加装电梯。"
    assert grounding.missing_figures("行动计划（2021—2025年）第9条要求加装电梯。", clause) == []
    assert grounding.missing_figures("2021年至2025年期间、2021-2025年", clause) == []
    assert grounding.missing_figures("2021年加装100台", clause) == ["2021", "100"]


def test_empty_and_placeholder_answers_and_empty_questions_are_refused():
    ok = {"question": "能加装电梯吗？", "clause_ref": "第9条", "clause_text": "加装电梯"}
    assert grounding.check(answer="可以，请咨询社区。", **ok) is None
    for answer in (grounding.PLACEHOLDER_ANSWER, "", "  ", "待填写", "TODO", "【待填写答复】"):
        problem = grounding.check(answer=answer, **ok)
        assert problem is not None and problem.code == "placeholder_answer", answer
    problem = grounding.check(answer="可以。", **{**ok, "question": " "})
    assert problem is not None and problem.code == "empty_question"
    problem = grounding.check(answer="每台补贴20万元。", **ok)
    assert problem is not None and problem.code == "figure_not_in_clause" and problem.figures == ("20",)
    assert "第9条" in problem.message and "“20”" in problem.message
