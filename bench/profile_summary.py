"""Where the time goes, from py-spy's raw (collapsed) stacks: ``python -m bench.profile_summary rasa.txt``.

Each line of the file is ``frame;frame;…;leaf count``, a frame being ``function (path:line)``. A
category's share is the fraction of the samples whose stack contains a matching frame
(inclusive, so categories overlap); py-spy records only threads that are not idle.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# (label, regular expression over one frame). py-spy shortens paths to the package: "do_commit (sqlalchemy/engine/…)".
CATEGORIES: dict[str, list[tuple[str, str]]] = {
    "rasa": [
        ("message handling (processor.handle_message)", r"^handle_message \(rasa/core/processor\.py"),
        ("NLU parse (processor.parse_message)", r"^parse_message \(rasa/core/processor\.py"),
        ("DIET classifier (incl. TensorFlow)", r"\(rasa/nlu/classifiers/diet_classifier\.py"),
        ("count-vectors featurizers", r"\(rasa/nlu/featurizers/sparse_featurizer/count_vectors_featurizer\.py"),
        ("jieba tokenizer", r"\(rasa/nlu/tokenizers/jieba_tokenizer\.py|\(jieba/"),
        ("policy prediction", r"\(rasa/core/policies/"),
        ("- of which the states of the whole conversation (past_states)", r"^past_states \("),
        ("tracker store: retrieve", r"^(retrieve|retrieve_full_tracker|_retrieve) \(rasa/core/tracker_store\.py"),
        ("tracker store: save", r"^save \(rasa/core/tracker_store\.py"),
        ("tracker store: the conversation cache (bot/tracker_cache.py)", r"\(bot/tracker_cache\.py"),
        ("- of which the version queries", r"^_version \(bot/tracker_cache\.py"),
        ("lock store", r"\(rasa/core/lock_store\.py"),
        ("custom action call (RemoteAction.run)", r"^run \(rasa/core/actions/action\.py"),
        ("- of which jsonschema validation of the action response", r"^_validate_action_result \("),
        ("- of which jsonschema check_schema (the constant schema, every call)", r"^check_schema \(jsonschema/"),
        ("- of which the HTTP call (rasa/utils/endpoints.py)", r"\(rasa/utils/endpoints\.py"),
        ("- of which aiohttp ClientSession created/closed", r"^(__init__|close|__aexit__) \(aiohttp/client\.py"),
        ("residents' REST channel (bot/channels/rest.py)", r"\(bot/channels/rest\.py"),
        ("guard (bot/guard.py)", r"\(bot/guard\.py"),
        ("rate limiter (knowledge/ratelimit.py)", r"\(knowledge/ratelimit\.py"),
        ("SQLAlchemy", r"\(sqlalchemy/"),
        ("Redis client", r"\(redis/"),
        ("logging", r"\(logging/"),
    ],
    "actions": [
        ("action_answer (actions/answer.py)", r"\(actions/answer\.py"),
        ("knowledge.answering", r"\(knowledge/answering\.py"),
        ("knowledge-base fingerprint query (per request)", r"^kb_fingerprint \("),
        ("published entry query (answer text, per request)", r"^published_entry \("),
        ("related questions", r"^_related \(knowledge/answering\.py"),
        ("inbox write (unanswered questions)", r"\(knowledge/inbox\.py"),
        ("BM25 search (knowledge/search.py)", r"\(knowledge/search\.py"),
        ("matching by meaning (knowledge/semantic.py)", r"\(knowledge/semantic\.py"),
        ("outcome counts (knowledge/stats.py)", r"\(knowledge/stats\.py"),
        ("jieba", r"\(jieba/"),
        ("SQLAlchemy", r"\(sqlalchemy/"),
        ("- waiting for PostgreSQL (psycopg wait, blocks the event loop)", r"^wait \(psycopg/"),
        ("sqlite3", r"sqlite3"),
        ("rasa_sdk executor / tracker", r"\(rasa_sdk/(executor|interfaces)\.py"),
        ("logging", r"\(logging/"),
    ],
}
# Leaf frames of a process or thread waiting for work (the event loop in epoll, Sanic's worker supervisor).
IDLE_LEAVES = re.compile(
    r"^(serve \(sanic/server/runners\.py|poll \(multiprocessing/popen_fork\.py|select \(selectors)"
)


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarise(path: Path, kind: str | None = None, top: int = 12) -> str:
    kind = kind or ("actions" if "action" in path.name else "rasa")
    stacks = parse(path)
    total = sum(n for _, n in stacks)
    busy_stacks = [(frames, n) for frames, n in stacks if not IDLE_LEAVES.search(frames[-1])]
    busy = sum(n for _, n in busy_stacks) or 1
    lines = [
        f"## {kind}: {total} samples, {100 * busy / (total or 1):.0f} % busy ({path.name})",
        "",
        "Shares of the busy samples (inclusive, so nested rows overlap):",
        "",
        "| share | category |",
        "|---|---|",
    ]
    for label, pattern in CATEGORIES[kind]:
        regex = re.compile(pattern)
        hits = sum(n for frames, n in busy_stacks if any(regex.search(f) for f in frames))
        if hits:
            lines.append(f"| {100 * hits / busy:.1f} % | {label} |")
    leaves: Counter[str] = Counter()
    for frames, n in busy_stacks:
        leaves[re.sub(r":\d+\)$", ")", frames[-1])] += n
    lines += ["", f"Top {top} busy leaf functions (self time):", "", "| share | function |", "|---|---|"]
    lines += [f"| {100 * n / busy:.1f} % | `{frame}` |" for frame, n in leaves.most_common(top)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--kind", choices=sorted(CATEGORIES), default=None)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    for file in args.files:
        print(summarise(file, args.kind, args.top))
