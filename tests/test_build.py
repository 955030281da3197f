"""The build step: idempotent, keeps staff edits, refuses broken FAQ files, runs on PostgreSQL."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from knowledge.build import FaqFileError, build
from knowledge.db import session_scope
from knowledge.models import Clause, FaqEntry, Target
from knowledge.settings import FAQ_DIR
from knowledge.topics import TOPICS


def snapshot(url: str) -> dict[str, tuple[int, str]]:
    with session_scope(url) as s:
        return {e.key: (e.version, e.answer) for e in s.scalars(select(FaqEntry))}


def test_second_build_changes_nothing(fresh_kb_url: str):
    before = snapshot(fresh_kb_url)
    report = build(url=fresh_kb_url)
    assert (report.faq_inserted, report.faq_updated) == (0, 0)
    assert report.faq_unchanged == len(before)
    assert snapshot(fresh_kb_url) == before


def test_staff_edit_survives_a_rebuild(fresh_kb_url: str):
    with session_scope(fresh_kb_url) as s:
        entry = s.scalar(select(FaqEntry).where(FaqEntry.key.like("elevator-%")).order_by(FaqEntry.id))
        key = entry.key
        entry.answer = "工作人员更新的答复。"
        entry.updated_by = "staff:wang"
    report = build(url=fresh_kb_url)
    assert key in report.faq_kept_staff_edits
    with session_scope(fresh_kb_url) as s:
        entry = s.scalar(select(FaqEntry).where(FaqEntry.key == key))
        assert (entry.answer, entry.updated_by, entry.version) == ("工作人员更新的答复。", "staff:wang", 2)


def test_changed_seed_updates_untouched_entry(fresh_kb_url: str, tmp_path: Path):
    faq_dir = tmp_path / "faq"
    shutil.copytree(FAQ_DIR, faq_dir)
    path = faq_dir / "childcare.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("answer: >-\n", "answer: >-\n      【修订】", 1), encoding="utf-8")
    report = build(url=fresh_kb_url, faq_dir=faq_dir)
    assert report.faq_updated == 1
    with session_scope(fresh_kb_url) as s:
        revised = s.scalars(select(FaqEntry).where(FaqEntry.answer.like("【修订】%"))).all()
        assert len(revised) == 1 and revised[0].version == 2


def test_unknown_clause_reference_is_refused_and_nothing_is_written(tmp_path: Path):
    faq_dir = tmp_path / "faq"
    faq_dir.mkdir()
    (faq_dir / "plan.yml").write_text(
        "topic: plan\nentries:\n  - key: plan-x\n    question: 问\n    answer: 答\n    source: 第99条\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    with pytest.raises(FaqFileError, match="第99条"):
        build(url=url, faq_dir=faq_dir)
    with session_scope(url) as s:
        assert s.scalar(select(func.count()).select_from(FaqEntry)) == 0


def test_bad_topic_is_refused_before_touching_the_database(tmp_path: Path):
    faq_dir = tmp_path / "faq"
    faq_dir.mkdir()
    (faq_dir / "x.yml").write_text("topic: weather\nentries: []\n", encoding="utf-8")
    with pytest.raises(FaqFileError, match="topic"):
        build(url=f"sqlite:///{tmp_path / 'kb.sqlite3'}", faq_dir=faq_dir)
    assert not (tmp_path / "kb.sqlite3").exists()


def test_every_topic_has_at_least_15_published_entries(kb_url: str):
    with session_scope(kb_url) as s:
        counts = dict(
            s.execute(
                select(FaqEntry.topic, func.count()).where(FaqEntry.status == "published").group_by(FaqEntry.topic)
            ).all()
        )
    assert set(counts) == set(TOPICS)
    assert min(counts.values()) >= 15, counts


def test_build_on_postgresql_is_idempotent(pg_url: str):
    first = build(url=pg_url)
    assert first.faq_inserted >= 75 and first.clauses == 30
    second = build(url=pg_url)
    assert (second.faq_inserted, second.faq_updated) == (0, 0)
    with session_scope(pg_url) as s:
        assert s.scalar(select(func.count()).select_from(Clause)) == 30
        assert s.scalar(select(func.count()).select_from(Target)) >= 20


def test_a_curated_answer_with_a_figure_its_clause_lacks_fails_the_build_and_nothing_is_written(tmp_path: Path):
    """Issue 11/13: ``make kb`` refuses "每台最高20万元" under 第9条, names the entry, and writes nothing."""
    faq_dir = tmp_path / "faq"
    shutil.copytree(FAQ_DIR, faq_dir)
    path = faq_dir / "elevator.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("answer: >-\n", "answer: >-\n      每台最高20万元。", 1), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    with pytest.raises(FaqFileError, match=r"elevator\.yml 第1条.*“20”.*第9条"):
        build(url=url, faq_dir=faq_dir)
    with session_scope(url) as s:
        assert s.scalar(select(func.count()).select_from(FaqEntry)) == 0


def test_the_build_command_says_why_it_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    from knowledge import build as build_module

    faq_dir = tmp_path / "faq"
    faq_dir.mkdir()
    (faq_dir / "plan.yml").write_text(
        "topic: plan\nentries:\n  - key: plan-x\n    question: 问\n    answer: （待填写答复）\n    source: 主要目标\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'kb.sqlite3'}")
    monkeypatch.setattr(build_module, "build", functools.partial(build, faq_dir=faq_dir))
    monkeypatch.setattr("sys.argv", ["knowledge.build"])
    with pytest.raises(SystemExit) as failed:
        build_module.main()
    assert "知识库构建失败" in str(failed.value) and "plan.yml 第1条" in str(failed.value)
    assert "占位文字" in str(failed.value)
