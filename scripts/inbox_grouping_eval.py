"""How well the inbox groups questions: precision and recall on labelled pairs (issue 14).

    .venv/app/bin/python scripts/inbox_grouping_eval.py            # the table, at the threshold in use
    .venv/app/bin/python scripts/inbox_grouping_eval.py --sweep    # also every threshold, dev and held-out
    .venv/app/bin/python scripts/inbox_grouping_eval.py --errors   # the dev pairs it gets wrong

Builds a fresh knowledge base in a temporary directory (what ``make kb`` builds) and measures two
things on the pairs of ``tests/eval/inbox_pairs.yml``:

1. the comparison of two questions (``knowledge.inbox_groups.Matcher.same``) on each pair alone;
2. the inbox itself: every question of the file asked once, in a shuffled (fixed) order, grouped by
   ``assign_new_questions``; a pair is put together when both questions end in one group.

A pair labelled ``same: true`` that is put together is a true positive. Precision: of the pairs put
together, the share that are the same question; recall: of the pairs that are the same question,
the share put together.

Held-out pairs are never printed (``--errors`` shows dev pairs only): tune on dev.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from knowledge import inbox_groups  # noqa: E402
from knowledge.answering import AnswerEngine  # noqa: E402
from knowledge.build import build  # noqa: E402
from knowledge.db import get_engine, get_sessionmaker, session_scope  # noqa: E402
from knowledge.inbox import record_unanswered  # noqa: E402
from knowledge.models import UnansweredQuestion  # noqa: E402

PAIRS_FILE = PROJECT_ROOT / "tests" / "eval" / "inbox_pairs.yml"


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, *, predicted: bool, same: bool) -> None:
        if predicted and same:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif same:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def row(self, name: str) -> str:
        n = self.tp + self.fp + self.fn + self.tn
        return (
            f"| {name} | {n} | {self.tp + self.fn} | {self.precision:.2f} | {self.recall:.2f} | {self.f1:.2f} "
            f"| {self.tp} | {self.fp} | {self.fn} |"
        )


HEADER = "| pairs | n | same | precision | recall | F1 | TP | FP | FN |\n|---|---|---|---|---|---|---|---|---|"


def load_pairs(path: Path = PAIRS_FILE) -> list[dict]:
    pairs = yaml.safe_load(path.read_text(encoding="utf-8"))
    for i, pair in enumerate(pairs, 1):
        if set(pair) - {"a", "b", "same", "split", "note"} or pair.get("split") not in ("dev", "heldout"):
            raise SystemExit(f"{path}: pair {i} is malformed: {pair}")
        if not isinstance(pair["same"], bool):
            raise SystemExit(f"{path}: pair {i}: same must be true or false")
    return pairs


def similarities(pairs: list[dict], url: str) -> list[float]:
    """Each pair's similarity as the inbox compares two questions."""
    matcher = inbox_groups.Matcher(AnswerEngine(get_sessionmaker(url)))
    matcher.prepare()
    return [matcher.similarity(p["a"], p["b"]) for p in pairs]


def grouped(pairs: list[dict], url: str) -> tuple[dict[str, int], list[int]]:
    """Every question of the pairs asked once, in a shuffled (fixed) order, and grouped by the inbox
    itself (``assign_new_questions``): question -> group id, and the groups' sizes."""
    texts = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs})
    random.Random(14).shuffle(texts)
    with session_scope(url) as session:
        for text in texts:
            record_unanswered(session, text=text, topic=None)
    with session_scope(url) as session:
        inbox_groups.assign_new_questions(session, inbox_groups.Matcher(AnswerEngine(get_sessionmaker(url))))
        group_of = dict(session.execute(select(UnansweredQuestion.text, UnansweredQuestion.group_id)).tuples().all())
    sizes = sorted(Counter(group_of.values()).values(), reverse=True)
    return group_of, sizes


def scores(pairs: list[dict], sims: list[float], threshold: float, split: str) -> Scores:
    found = Scores()
    for pair, sim in zip(pairs, sims, strict=True):
        if split in ("all", pair["split"]):
            found.add(predicted=sim >= threshold, same=pair["same"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", action="store_true", help="precision and recall at every threshold")
    parser.add_argument("--errors", action="store_true", help="the dev pairs the grouping gets wrong")
    args = parser.parse_args()
    pairs = load_pairs()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'kb.sqlite3'}"
        build(url=url)
        try:
            sims = similarities(pairs, url)
            group_of, sizes = grouped(pairs, url)
        finally:
            get_engine(url).dispose()
    threshold = inbox_groups.GROUP_THRESHOLD
    print(f"Grouping threshold {threshold} (knowledge/inbox_groups.py), {len(pairs)} pairs of {PAIRS_FILE.name}\n")
    print("Two questions compared (Matcher.same):\n")
    print(HEADER)
    for split in ("dev", "heldout", "all"):
        print(scores(pairs, sims, threshold, split).row(split))
    print(f"\nAs the inbox groups them: all {len(group_of)} questions asked, in one (shuffled) inbox:\n")
    same_group = [1.0 if group_of[p["a"]] == group_of[p["b"]] else 0.0 for p in pairs]
    print(HEADER)
    for split in ("dev", "heldout", "all"):
        print(scores(pairs, same_group, 0.5, split).row(split))
    print(f"\n{len(sizes)} groups; the largest {sizes[:5]}; {sum(1 for n in sizes if n == 1)} of one question")
    if args.sweep:
        print("\n| threshold | dev P | dev R | dev F1 | held-out P | held-out R | held-out F1 |")
        print("|---|---|---|---|---|---|---|")
        for step in range(5, 75, 5):
            t = step / 100
            dev, held = scores(pairs, sims, t, "dev"), scores(pairs, sims, t, "heldout")
            print(
                f"| {t:.2f} | {dev.precision:.2f} | {dev.recall:.2f} | {dev.f1:.2f} "
                f"| {held.precision:.2f} | {held.recall:.2f} | {held.f1:.2f} |"
            )
    if args.errors:
        print("\nDev pairs grouped wrongly (similarity, label):")
        for pair, sim in zip(pairs, sims, strict=True):
            if pair["split"] == "dev" and (sim >= threshold) != pair["same"]:
                label = "same" if pair["same"] else "different"
                print(f"  {sim:.2f} {label}: {pair['a']} | {pair['b']}")


if __name__ == "__main__":
    main()
