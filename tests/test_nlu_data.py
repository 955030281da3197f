"""The NLU training data and the held-out evaluation set stay apart and well-formed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from knowledge.settings import PROJECT_ROOT

ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]*\)")
TOPIC_INTENTS = ("ask_elevator", "ask_childcare", "ask_hukou", "ask_rental", "ask_plan")


def examples(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
        if "intent" in item:
            lines = [ANNOTATION.sub(r"\1", line[2:].strip()) for line in item["examples"].splitlines() if line.strip()]
            found.setdefault(item["intent"], []).extend(lines)
    return found


def folded(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text.lower())


def training() -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for path in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml")):
        for intent, lines in examples(path).items():
            merged.setdefault(intent, []).extend(lines)
    return merged


def test_held_out_messages_are_not_in_the_training_data():
    train = {folded(t) for lines in training().values() for t in lines}
    held_out = [t for lines in examples(PROJECT_ROOT / "tests" / "nlu_eval.yml").values() for t in lines]
    assert len(held_out) >= 150
    leaked = [t for t in held_out if folded(t) in train]
    assert not leaked, leaked


def test_enough_varied_examples_per_intent():
    data = training()
    for intent in TOPIC_INTENTS:
        assert len(set(data[intent])) >= 60, intent
    assert len(set(data["out_of_scope"])) >= 80
    for intent in ("greet", "goodbye", "thank", "bot_challenge", "ask_capabilities", "follow_up"):
        assert len(set(data[intent])) >= 15, intent
