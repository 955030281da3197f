"""Where the knowledge base lives. Read from the environment, never at import time."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = Path(__file__).resolve().parent
SOURCES_DIR = KNOWLEDGE_DIR / "sources"
FAQ_DIR = KNOWLEDGE_DIR / "faq"
DICTS_DIR = PROJECT_ROOT / "data" / "dicts"
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "kb.sqlite3"


def database_url() -> str:
    """``DATABASE_URL`` with the driver this project uses filled in.

    ``sqlite:///path`` and ``postgresql://…`` are accepted as users write them;
    PostgreSQL is reached through psycopg 3.
    """
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
    return normalize_url(url)


def normalize_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def four_eyes() -> bool:
    """``FOUR_EYES=1`` (the default of ``make run PROFILE=prod``): nobody publishes or approves their own change.

    Read on every decision, never cached, so the staff service, imports and the command line
    follow the same setting (knowledge.staff, knowledge.proposals).
    """
    return os.environ.get("FOUR_EYES", "").strip().lower() in ("1", "true", "yes", "on")
