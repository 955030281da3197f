"""Wait until the knowledge base is built by this image's version (Kubernetes init container).

``python deploy/wait_for_kb.py [--timeout 600]`` exits 0 once the database at ``DATABASE_URL`` is at the
Alembic head shipped in this image and holds the documents that ``python -m knowledge.build`` writes
(in one transaction, so documents present means the build finished). The action server and the staff
service wait for it, so that only the KB Job migrates and a new version never serves an old schema.
Exits 1 after ``--timeout`` seconds; Kubernetes then restarts the init container.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the app root, for `knowledge`


def expected_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from knowledge.settings import KNOWLEDGE_DIR

    config = Config()
    config.set_main_option("script_location", str(KNOWLEDGE_DIR / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise SystemExit("no Alembic migrations found in this image")
    return head


def state() -> tuple[str | None, int]:
    """(Alembic revision of the database, number of documents); (None, 0) while it is not there yet."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from knowledge.db import get_engine

    try:
        with get_engine().connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            documents = conn.execute(text("SELECT count(*) FROM documents")).scalar_one()
    except SQLAlchemyError:  # no database, no tables yet, or not reachable
        return None, 0
    return revision, int(documents)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="等待知识库构建完成（迁移到本镜像的最新版本并已导入文档）")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between checks (default 3)")
    args = parser.parse_args(argv)
    head = expected_head()
    deadline = time.monotonic() + args.timeout
    last_report = 0.0
    while True:
        revision, documents = state()
        if revision == head and documents > 0:
            print(f"知识库已就绪：迁移版本 {head}，文档 {documents} 份。", flush=True)
            return 0
        now = time.monotonic()
        if now >= deadline:
            print(
                f"等待知识库超时：数据库迁移版本 {revision or '无'}（需要 {head}），文档 {documents} 份。", flush=True
            )
            return 1
        if now - last_report >= 30:
            print(
                f"等待知识库构建（python -m knowledge.build）：迁移版本 {revision or '无'}，需要 {head}。", flush=True
            )
            last_report = now
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
