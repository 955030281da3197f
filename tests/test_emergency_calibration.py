"""The emergency rule keeps its recall and its few false alarms (issue 11), so that a new example in
knowledge/emergency_examples.yml, a cue word or a pattern exception can't quietly hide real danger.

Two measurements, with the real bundled model and a real knowledge base:
- each curated example, left out of its own neighbours, judged as the bot would judge it;
- every dev message of the residents' evaluation set through the bot's own emergency step.

The floors sit a little below what was measured when they were set (docs/eval-residents.md, Session 17);
the figures are printed, so a failing run shows how far they moved.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from actions.steps import Turn
from actions.steps import emergency as emergency_step
from knowledge import emergency
from knowledge.answering import AnswerEngine
from knowledge.text import simplified
from knowledge.understanding import is_emergency

EVAL_FILE = Path(__file__).parent / "eval" / "residents.yml"

# Measured when set (session 17): examples 385/410 caught, 32/379 near misses flagged; dev 265/265
# caught, 1/3430 others flagged ("…锅里冒黑烟…还有救伐", left on the safe side).
EXAMPLES_CAUGHT_AT_LEAST = 0.92
NEAR_MISSES_FLAGGED_AT_MOST = 0.10
DEV_CAUGHT_AT_LEAST = 0.98
DEV_OTHERS_FLAGGED_AT_MOST = 0.002


def _flagged_left_out(engine: AnswerEngine, text: str) -> bool:
    if is_emergency(text):
        return True
    if not emergency.worth_comparing(text):
        return False
    return emergency.judge(engine.nearest_emergency_examples(text=text, leave_out_itself=True))


def test_the_curated_examples_judged_without_themselves(engine: AnswerEngine):
    examples = emergency.read_examples()
    caught = sum(_flagged_left_out(engine, t) for t in examples.emergency)
    flagged = sum(_flagged_left_out(engine, t) for t in examples.not_emergency)
    near = len(examples.not_emergency)
    print(f"examples: {caught}/{len(examples.emergency)} caught, {flagged}/{near} near misses flagged")
    assert caught / len(examples.emergency) >= EXAMPLES_CAUGHT_AT_LEAST
    assert flagged / near <= NEAR_MISSES_FLAGGED_AT_MOST


def test_the_dev_messages_through_the_emergency_step(engine: AnswerEngine):
    items = [i for i in yaml.safe_load(EVAL_FILE.read_text(encoding="utf-8")) if i["split"] == "dev"]
    danger = [i for i in items if i["expect"].get("reply") == "emergency"]
    others = [i for i in items if i["expect"].get("reply") != "emergency"]
    assert len(danger) >= 200 and len(others) >= 3000

    def flagged(item: dict) -> bool:
        return emergency_step(Turn(text=simplified(item["text"])), engine) is not None

    caught = [i for i in danger if flagged(i)]
    false_alarms = [i["text"] for i in others if flagged(i)]
    print(f"dev: {len(caught)}/{len(danger)} caught, {len(false_alarms)}/{len(others)} others flagged: {false_alarms}")
    assert len(caught) / len(danger) >= DEV_CAUGHT_AT_LEAST
    assert len(false_alarms) / len(others) <= DEV_OTHERS_FLAGGED_AT_MOST
