"""The seed embeddings baked into the app image (deploy/Dockerfile.app, deploy/seed_semantic.py), offline.

There is no Docker engine here, so the image's file tree is staged from the Dockerfile's COPY lines up to
the seed step (tests/test_deploy_files.py does the same for the whole image, with this machine's
virtualenv standing in for the ``pip install`` layer), and the step's script runs in it, without a
network where the kernel lets us take it away. The file it writes must:

- hold an embedding of every phrasing and clause sentence of the knowledge base that the KB job builds
  on PostgreSQL, so an action server embeds nothing at warm-up;
- carry no build time (numpy dates each zip entry), so the same sources give the same bytes;
and the step leaves nothing else in the image: its seed database and jieba's cache go away with it.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker
from knowledge.semantic import SemanticMatcher
from tests.test_deploy_files import (
    DOCKERFILES,
    ROOT,
    VENVS,
    clean_env,
    context_files,
    dockerfile_copies,
    dockerfile_instructions,
    dockerfile_user,
)

SCRIPT = "deploy/seed_semantic.py"


def seed_step() -> tuple[int, str]:
    """(number of COPY/ADD lines before it, the RUN line) of the Dockerfile's seed step."""
    copies = 0
    for keyword, rest in dockerfile_instructions(DOCKERFILES["app"]):
        if keyword == "RUN" and SCRIPT in rest:
            return copies, rest
        copies += keyword in ("COPY", "ADD")
    raise AssertionError(f"deploy/Dockerfile.app has no RUN of {SCRIPT}")


def stage_until_seed_step(target: Path) -> Path:
    """The app image's files as the seed step sees them: only what is copied before it."""
    copies, _ = seed_step()
    workdir = "/"
    for sources, destination, workdir in dockerfile_copies(DOCKERFILES["app"])[:copies]:
        for source in sources:
            for file, below in context_files(source):
                directory = destination.endswith("/") or (ROOT / source).is_dir()
                dest = f"{destination.rstrip('/')}/{below}" if directory else destination
                out = target / workdir.strip("/") / dest
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)
    app_root = target / workdir.strip("/")
    (app_root / ".venv").mkdir(exist_ok=True)
    (app_root / ".venv" / "app").symlink_to(VENVS["app"], target_is_directory=True)
    return app_root


def offline_prefix() -> list[str]:
    """A command prefix that runs without any network (a new network namespace), where allowed."""
    for prefix in (["unshare", "-rn"], ["unshare", "-n"]):
        if shutil.which(prefix[0]) and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return []


def files_below(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}  # not into the virtualenv's symlink


def test_the_seed_step_runs_as_root_before_user_and_hands_the_embeddings_to_the_app_user() -> None:
    instructions = dockerfile_instructions(DOCKERFILES["app"])
    _, run = seed_step()
    user_at = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "USER")
    assert instructions.index(("RUN", run)) < user_at
    owner = next(rest for keyword, rest in instructions if keyword == "USER")
    assert dockerfile_user(DOCKERFILES["app"]) == owner.split(":")[0]
    # The app user must be able to add the phrasings of staff edits at run time.
    assert f"chown -R {owner} var/semantic" in run, run


def test_the_seed_embeddings_cover_the_kb_jobs_build_without_a_network_or_a_build_time(
    tmp_path: Path, pg_url: str
) -> None:
    app_root = stage_until_seed_step(tmp_path / "image")
    before = files_below(app_root)
    _, run = seed_step()
    command = run.split("&&")[0].split()
    assert command == [".venv/app/bin/python", SCRIPT], run
    seeded = subprocess.run(
        [*offline_prefix(), str(app_root / command[0]), SCRIPT],
        cwd=app_root, env=clean_env(PYTHONUNBUFFERED="1"), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stdout[-2000:] + seeded.stderr[-3000:]
    assert "知识库构建完成" in seeded.stdout

    (embeddings,) = (app_root / "var" / "semantic").glob("*.npz")
    added = files_below(app_root) - before
    assert added == {"var", "var/semantic", embeddings.relative_to(app_root).as_posix()}, added
    with zipfile.ZipFile(embeddings) as stored:
        assert {info.date_time for info in stored.infolist()} == {(1980, 1, 1, 0, 0, 0)}

    # The KB job on PostgreSQL: every document the action server matches by meaning is in the file
    # (embed_documents computes and writes only missing ones, so the file would change otherwise).
    build(url=pg_url)
    try:
        texts = [text for _, text in AnswerEngine(get_sessionmaker(pg_url)).documents_for_meaning()]
    finally:
        get_engine(pg_url).dispose()
    assert len(texts) > 1000
    shipped = embeddings.read_bytes()
    matcher = SemanticMatcher(cache_dir=embeddings.parent)
    matcher.embed_documents(texts)
    assert embeddings.read_bytes() == shipped, "the action server would embed documents at warm-up"


def test_fixing_the_zip_times_keeps_the_arrays(tmp_path: Path) -> None:
    import numpy as np

    from deploy.seed_semantic import normalize_times

    path = tmp_path / "x.npz"
    arrays = {"keys": np.array(["b", "a"]), "vectors": np.arange(12, dtype=np.float32).reshape(2, 6)}
    np.savez(path, **arrays)
    with zipfile.ZipFile(path) as stored:
        names = [info.filename for info in stored.infolist()]
    normalize_times(path)
    with np.load(path) as loaded:
        for name, array in arrays.items():
            assert (loaded[name] == array).all()
    with zipfile.ZipFile(path) as stored:
        assert [(i.filename, i.date_time) for i in stored.infolist()] == [(n, (1980, 1, 1, 0, 0, 0)) for n in names]
