"""Parse the source documents into clauses and the targets they state.

The plan: the full text follows a line starting with "附:"; part 一 holds the
goals (主要目标), the other parts hold numbered clauses "9.完善城乡住房保障体系。…".
The 2022 report: one paragraph stream split into an introduction and three
headed sections (创新驱动, 改革牵引, 民生保障).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from knowledge.topics import topics_for_text

PLAN_TITLE = "杭州争当浙江高质量发展建设共同富裕示范区城市范例的行动计划（2021—2025年）"
REPORT_TITLE = "积厚成势向未来杭州：朝着共同富裕目标奋楫前行"
REPORT_SECTIONS = ("创新驱动", "改革牵引", "民生保障")
REPORT_PREFIX = "2022报告·"

_PART_HEADING = re.compile(r"^([一二三四五六七八九十]+)、(.+)$")
_NUMBERED = re.compile(r"^(\d+)\.(.+)$")
_TARGET = re.compile(
    r"(?P<indicator>[^，。；：]{2,60}?)"
    r"(?P<cmp>力争达到|达到|突破|超过|提高到|缩小到|控制在|低于|达|拥有|新增)"
    r"(?P<value>\d+(?:\.\d+)?)"
    r"(?P<unit>万亿元|亿元|万元/人|万元|万件|万人|亿人次|人次|件/万人|人/亿元|平方米|%|个|年|岁|家|所|人)"
)


@dataclass
class ParsedTarget:
    indicator: str
    comparator: str
    value: Decimal
    unit: str
    year: int | None
    sentence: str


@dataclass
class ParsedClause:
    ref: str
    number: int | None
    part: str
    title: str
    text: str
    topics: list[str]
    targets: list[ParsedTarget] = field(default_factory=list)


def normalize_punctuation(text: str) -> str:
    """Use Chinese punctuation where the source mixes in ASCII commas and brackets."""
    text = re.sub(r"(?<!\d),|,(?!\d)", "，", text)
    text = text.replace("(", "（").replace(")", "）")
    text = re.sub(r"(?<!\d):|:(?!\d)", "：", text)
    return text.replace(";", "；")


def sentences(text: str) -> list[str]:
    """Split Chinese text after 。；！？ and line breaks, keeping the punctuation."""
    parts = re.split(r"(?<=[。；！？])|\n+", text)
    return [p.strip() for p in parts if p and p.strip()]


def extract_targets(text: str, *, default_year: int | None, require: str = "") -> list[ParsedTarget]:
    """Quantified commitments in ``text``: indicator, comparator, value, unit, year."""
    found: list[ParsedTarget] = []
    for sentence in sentences(text):
        if require and not re.search(require, sentence):
            continue
        year_match = re.search(r"到(20\d\d)年", sentence)
        year = int(year_match.group(1)) if year_match else default_year
        for m in _TARGET.finditer(sentence):
            indicator = re.sub(r"^(——|到20\d\d年底?|力争|实现|全市|其中|、)+", "", m.group("indicator"))
            indicator = indicator.strip("、 ")
            found.append(
                ParsedTarget(
                    indicator=indicator,
                    comparator=m.group("cmp"),
                    value=Decimal(m.group("value")),
                    unit=m.group("unit"),
                    year=year,
                    sentence=sentence,
                )
            )
    return found


def parse_plan(raw: str) -> list[ParsedClause]:
    text = normalize_punctuation(raw)
    marker = text.find("\n附：")
    if marker < 0:
        raise ValueError("行动计划全文的起始标记“附：”未找到")
    lines = [line.strip() for line in text[marker:].splitlines() if line.strip()][1:]
    clauses: list[ParsedClause] = []
    part = ""
    goals: list[str] = []
    for line in lines:
        heading = _PART_HEADING.match(line)
        if heading:
            part = line
            continue
        numbered = _NUMBERED.match(line)
        if numbered:
            number, body = int(numbered.group(1)), numbered.group(2)
            title = body.split("。", 1)[0]
            clauses.append(
                ParsedClause(
                    ref=f"第{number}条",
                    number=number,
                    part=part,
                    title=title,
                    text=body,
                    topics=topics_for_text(body),
                    targets=extract_targets(body, default_year=None),
                )
            )
        elif part.startswith("一、"):
            goals.append(line)
        elif not part:
            clauses.append(ParsedClause(ref="序言", number=None, part="", title="序言", text=line, topics=["plan"]))
    goals_text = "\n".join(goals)
    clauses.insert(
        1,
        ParsedClause(
            ref="主要目标",
            number=None,
            part="一、主要目标",
            title="主要目标",
            text=goals_text,
            topics=topics_for_text(goals_text),
            targets=extract_targets(goals_text, default_year=2025),
        ),
    )
    numbers = [c.number for c in clauses if c.number is not None]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"行动计划条款编号不连续：{numbers}")
    return clauses


def parse_report(raw: str) -> list[ParsedClause]:
    text = normalize_punctuation(raw.strip())
    pattern = "|".join(rf"{name}\s\s" for name in REPORT_SECTIONS)
    pieces = re.split(f"({pattern})", text)
    if len(pieces) != 2 * len(REPORT_SECTIONS) + 1:
        raise ValueError("2022年进展报道的三个小标题未全部找到")
    sections = [("导语", pieces[0])]
    sections += [(pieces[i].strip(), pieces[i + 1]) for i in range(1, len(pieces), 2)]
    clauses = []
    for name, body in sections:
        body = "\n".join(p.strip() for p in body.split("\u3000\u3000") if p.strip())
        clauses.append(
            ParsedClause(
                ref=f"{REPORT_PREFIX}{name}",
                number=None,
                part=name,
                title=name,
                text=body,
                topics=topics_for_text(body),
                targets=extract_targets(body, default_year=None, require="力争|计划"),
            )
        )
    return clauses
