"""Every figure a resident reads in an answer stands in the clause that answer cites."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from knowledge.db import session_scope
from knowledge.models import Clause, FaqEntry

FIGURE = re.compile(r"\d+(?:\.\d+)?")


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
            cited = entry.clause.text
            missing = [f for f in FIGURE.findall(entry.answer) if f not in cited]
            if missing:
                problems.append(f"{entry.key} cites {entry.clause.ref} but says {missing}")
    assert not problems, "\n".join(problems)


def test_the_check_catches_an_invented_figure(kb_url: str):
    with session_scope(kb_url) as s:
        clause = s.scalar(select(Clause).where(Clause.ref == "第9条"))
    invented = "加装电梯每台补贴20万元。"
    assert [f for f in FIGURE.findall(invented) if f not in clause.text] == ["20"]
