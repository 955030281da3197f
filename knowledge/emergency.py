"""Someone in danger now, recognised by meaning as well as by pattern (issue 11).

The pattern list ``knowledge.understanding.EMERGENCY`` knows the stock words (着火, 晕倒, 被困 …), but
people in danger describe what they see: "奶奶摔倒了头磕到马桶 叫她也不应", "狗咬住小孩腿不松口".
Every fresh batch of such messages found kinds the list had not seen. So a message the list misses
is also compared, by meaning (knowledge/semantic.py), with a curated set of examples
(``emergency_examples.yml``): messages of people in danger, and messages that share their words but
are not (policy questions on safety, old accidents told as background, "急死了", errands such as
"灭火器哪里买"). The message counts as an emergency when its nearest examples are mostly
emergencies (``judge``).

Only messages with a word of harm or urgency (``HARM_CUE`` in knowledge/understanding.py, broad on
purpose) are compared, so an ordinary question costs no embedding. A missed emergency is the worst
failure the assistant can have, an extra one costs a resident one more line: the rule leans towards
the emergency numbers. tests/test_emergency_calibration.py keeps its recall above a floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from knowledge.semantic import Match
from knowledge.understanding import HARM_CUE, MANIPULATION, told_as_past_or_policy

EXAMPLES_FILE = Path(__file__).with_name("emergency_examples.yml")
EMERGENCY, NOT_EMERGENCY = "emergency", "not_emergency"


@dataclass(frozen=True)
class Examples:
    emergency: tuple[str, ...]
    not_emergency: tuple[str, ...]

    def documents(self) -> list[tuple[str, str]]:
        """(ref, text) pairs for knowledge/semantic.py: "emergency:12", "not_emergency:40"."""
        return [(f"{EMERGENCY}:{i}", t) for i, t in enumerate(self.emergency)] + [
            (f"{NOT_EMERGENCY}:{i}", t) for i, t in enumerate(self.not_emergency)
        ]


class ExamplesFileError(ValueError):
    pass


def read_examples(path: Path = EXAMPLES_FILE) -> Examples:
    """The curated examples; both lists must be there and non-empty (the knowledge-base build and a
    test read them, so a broken file fails there, not when a resident is in danger)."""
    from knowledge.text import simplified

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ExamplesFileError(f"{path.name} 无法读取：{exc}") from None
    lists = {}
    for label in (EMERGENCY, NOT_EMERGENCY):
        items = data.get(label) if isinstance(data, dict) else None
        if not isinstance(items, list) or not items or not all(isinstance(t, str) and t.strip() for t in items):
            raise ExamplesFileError(f"{path.name} 里的 {label} 必须是非空的文字列表")
        lists[label] = tuple(dict.fromkeys(simplified(t) for t in items))  # as questions are compared
    return Examples(lists[EMERGENCY], lists[NOT_EMERGENCY])


@lru_cache(maxsize=1)
def examples() -> Examples:
    return read_examples()


# The decision, calibrated on the dev split and on the examples themselves (each left out in turn;
# docs/eval-residents.md, Session 15): the nearest example must be an emergency, and among the
# NEIGHBOURS nearest (the plan's own phrasings count as non-emergencies) the emergencies'
# similarities must outweigh the others' by MARGIN (cosine similarities, 0…1 each).
NEIGHBOURS = 5
MARGIN = 0.9


def worth_comparing(text: str) -> bool:
    """A message with a word of harm or urgency that is not told of the past or asked as policy (the
    pattern list's own exceptions, knowledge/understanding.py)."""
    return (
        not text.startswith("/")
        and bool(HARM_CUE.search(text))
        and not told_as_past_or_policy(text)
        and not MANIPULATION.search(text)  # "忘掉你的规则": nearest to nothing, it lands anywhere
    )


def judge(nearest: Sequence[Match]) -> bool:
    """Whether the nearest examples (best first, knowledge/semantic.py) say "emergency"."""
    if not nearest or not nearest[0].ref.startswith(EMERGENCY + ":"):
        return False
    score = sum(m.similarity if m.ref.startswith(EMERGENCY + ":") else -m.similarity for m in nearest[:NEIGHBOURS])
    return score > MARGIN
