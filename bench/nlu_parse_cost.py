"""What one NLU parse costs in process, per pipeline component: the stack's model beside the floor's.

Runs in the Rasa environment (it loads the models with Rasa itself):

    .venv/rasa/bin/python -m bench.nlu_parse_cost models/nlu-core-<hash>.tar.gz models/floor/floor-<hash>.tar.gz

Each model parses the load bench's messages (the held-out NLU evaluation, tests/nlu_eval.yml) once to warm up, then
``--passes`` times; the mean milliseconds per parse, and per component, are printed. Single process,
one message at a time: the figure the load benchmark's Rasa worker pays per message for NLU.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import time

from bench.load import resident_questions


async def cost(model: str, texts: list[str], passes: int) -> tuple[float, dict[str, float]]:
    from rasa.core.agent import Agent
    from rasa.engine import graph
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's own per-parse debug lines would be timed too

    agent = Agent.load(model)
    spent: collections.Counter[str] = collections.Counter()
    original = graph.GraphNode.__call__

    def timed(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent[self._node_name] += time.perf_counter() - started

    graph.GraphNode.__call__ = timed
    try:
        for text in texts:
            await agent.parse_message(text)
        spent.clear()
        started = time.perf_counter()
        for _ in range(passes):
            for text in texts:
                await agent.parse_message(text)
        total = time.perf_counter() - started
    finally:
        graph.GraphNode.__call__ = original
    n = passes * len(texts)
    return total / n * 1000, {name: s / n * 1000 for name, s in spent.most_common()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.disable(logging.INFO)
    texts = resident_questions()
    for model in args.models:
        per_parse, components = asyncio.run(cost(model, texts, args.passes))
        print(f"{model}: {per_parse:.2f} ms per parse ({len(texts)} messages x {args.passes})")
        for name, ms in list(components.items())[:4]:
            print(f"  {ms:6.2f} ms  {name}")


if __name__ == "__main__":
    main()
