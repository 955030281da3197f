"""Topic codes shared by the bot, the knowledge base and (later) the staff service."""

from __future__ import annotations

TOPICS: dict[str, str] = {
    "elevator": "老旧小区加装电梯",
    "childcare": "托育和婴幼儿照护",
    "hukou": "积分落户",
    "rental": "租赁住房和住房保障",
    "plan": "行动计划的其他承诺",
}

# Which topic an NLU intent asks about.
INTENT_TOPICS: dict[str, str] = {
    "ask_elevator": "elevator",
    "ask_childcare": "childcare",
    "ask_hukou": "hukou",
    "ask_rental": "rental",
    "ask_plan": "plan",
}

# A clause is tagged with a topic when its text contains one of these terms
# (every clause is also tagged ``plan``).
TOPIC_TERMS: dict[str, tuple[str, ...]] = {
    "elevator": ("加装电梯", "老旧小区"),
    "childcare": ("托位", "婴幼儿", "托育", "育儿", "学前教育"),
    "hukou": ("落户", "市民化", "人才码"),
    "rental": ("租赁住房", "共有产权", "蓝领公寓", "住房保障", "职住平衡"),
}


def topics_for_text(text: str) -> list[str]:
    """Topic codes a clause text belongs to, ``plan`` always included."""
    found = [code for code, terms in TOPIC_TERMS.items() if any(t in text for t in terms)]
    return [*found, "plan"]
