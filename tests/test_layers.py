"""Imports point down only: ``knowledge`` is the ground floor, ``bot`` and ``web`` stand on it.

The Rasa image carries ``bot/`` and a few files of ``knowledge/`` but no ``web/`` (and the staff
image no Rasa), so an arrow from ``bot`` to ``web`` or from ``knowledge`` upwards breaks a process
at start-up in production while everything still works in the development tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_packages(package: str) -> dict[str, set[str]]:
    """For each module of ``package``: the top-level project packages it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names & {"bot", "web", "knowledge", "actions"}
    return found


def test_the_resident_channels_never_import_the_staff_service() -> None:
    offending = {path: names for path, names in imported_packages("bot").items() if "web" in names}
    assert offending == {}


def test_the_staff_service_never_imports_the_resident_channels() -> None:
    offending = {path: names for path, names in imported_packages("web").items() if "bot" in names}
    assert offending == {}


def test_the_knowledge_package_imports_nothing_above_it() -> None:
    offending = {path: names - {"knowledge"} for path, names in imported_packages("knowledge").items()}
    assert {path: names for path, names in offending.items() if names} == {}


def test_the_rate_limiter_is_importable_from_the_ground_floor() -> None:
    from knowledge import ratelimit

    assert ratelimit.RateLimiter and not (ROOT / "web" / "ratelimit.py").exists()
