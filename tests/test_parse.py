from decimal import Decimal

from knowledge.parse import normalize_punctuation, parse_plan, parse_report
from knowledge.settings import SOURCES_DIR


def plan_clauses():
    return parse_plan((SOURCES_DIR / "plan_2021_2025.txt").read_text(encoding="utf-8"))


def test_plan_has_preamble_goals_and_24_numbered_clauses():
    refs = [c.ref for c in plan_clauses()]
    assert refs[:2] == ["序言", "主要目标"]
    assert refs[2:] == [f"第{n}条" for n in range(1, 25)]


def test_clause_nine_holds_elevator_and_rental_commitments():
    clause = {c.ref: c for c in plan_clauses()}["第9条"]
    assert clause.title == "完善城乡住房保障体系"
    assert "能改尽改、愿改就改" in clause.text
    assert "蓝领公寓" in clause.text
    assert {"elevator", "rental", "plan"} <= set(clause.topics)


def test_goal_targets_carry_value_unit_and_year():
    goals = {c.ref: c for c in plan_clauses()}["主要目标"]
    childcare = [t for t in goals.targets if "托位" in t.indicator]
    assert [(t.value, t.unit, t.year) for t in childcare] == [(Decimal("4.6"), "个", 2025)]
    life = [t for t in goals.targets if t.indicator == "人均预期寿命"]
    assert life and life[0].value == Decimal("83.88") and life[0].comparator == "超过"


def test_report_sections_and_2022_childcare_target():
    sections = parse_report((SOURCES_DIR / "report_2022.txt").read_text(encoding="utf-8"))
    assert [s.ref for s in sections] == ["2022报告·导语", "2022报告·创新驱动", "2022报告·改革牵引", "2022报告·民生保障"]
    livelihood = sections[-1]
    assert "邻里社区" in livelihood.text
    targets = [(t.value, t.year) for t in livelihood.targets if "托位" in t.indicator]
    assert targets == [(Decimal("3.5"), 2022)]


def test_punctuation_is_normalised_but_numbers_keep_their_separators():
    assert normalize_punctuation("比重为1.8:30.3:67.9,其中(试点)") == "比重为1.8:30.3:67.9，其中（试点）"
