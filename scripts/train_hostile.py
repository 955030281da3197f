"""Train the hostile-message classifier (knowledge/hostile.py) into knowledge/hostile_model.npz.

    .venv/app/bin/python scripts/train_hostile.py        # or: make hostile-model

Run it after editing knowledge/hostile_examples.yml, the NLU data, the FAQ seeds or the emergency
examples or the evaluation set's dev split (tests/test_hostile_calibration.py fails while the model
is older than they are), then
`make test`. Deterministic: the same examples give the same model. Embedding the ~3800 examples
takes a few minutes the first time; their embeddings are kept in var/semantic/training/.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project's packages, from any directory

import numpy as np

from knowledge import hostile
from knowledge.semantic import CACHE_DIR, SemanticMatcher


def main() -> int:
    started = time.monotonic()
    texts = hostile.training_set()
    matcher = SemanticMatcher(threads=1, cache_dir=CACHE_DIR / "training")  # not loaded by the servers
    model = hostile.train(texts, matcher.query_vectors)
    np.savez_compressed(hostile.MODEL_FILE, **model)
    print(
        f"敌意消息模型：{len(texts.hostile)} 条敌意示例、{len(texts.not_hostile)} 条正常示例，"
        f"用时 {time.monotonic() - started:.0f} 秒，已写入 {hostile.MODEL_FILE.name}（{texts.digest()}）"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
