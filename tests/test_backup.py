"""Backup and restore of the knowledge base (knowledge/backup.py, scripts/backup.py) on real databases.

SQLite -> backup -> fresh SQLite, and SQLite -> backup -> PostgreSQL: every row of every table reads
back equal (login tokens excepted: they are never restored). Refusals (a non-empty knowledge base
without --force, a damaged file, a row the database rejects) leave the target exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import sqlite3
import stat
import subprocess
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from knowledge import backup, feedback, inbox, staff
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker
from knowledge.models import Base, FaqEntry, KbVersion, StaffUser
from knowledge.staff import FaqInput
from tests.stack import APP_PYTHON, PROJECT_ROOT

PASSWORD = "Backup-Test-2025!x"
EDITED_ANSWER = "（备份前的修改）加装电梯由业主协商，具体以所在街道公布的办法为准。"
CHINESE = re.compile("[\u4e00-\u9fff]")


# -- helpers ------------------------------------------------------------------------


def normalized(value: Any) -> Any:
    """A value as the application means it: naive datetimes from SQLite are UTC."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def rows(url: str, *, tokens: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read back from the database (not from a backup)."""
    with get_engine(url).connect() as conn:
        return {
            table.name: [
                tuple(normalized(v) for v in row)
                for row in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
            if (tokens or table.name != "staff_tokens") and table.name not in backup.KEPT  # the change counter
        }


def user(session, username: str) -> StaffUser:  # type: ignore[no-untyped-def]
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def lived_in(url: str) -> int:
    """A knowledge base as staff and residents leave it: accounts, edits, a deletion, inbox, feedback, tokens.

    Returns the id of the entry a reviewer edited.
    """
    make_session = get_sessionmaker(url)
    with make_session() as session, session.begin():
        staff.create_user(session, username="wang", password=PASSWORD, role="reviewer", actor="test")
        staff.create_user(session, username="li", password=PASSWORD, role="editor", actor="test")
    staff.log_in(make_session, username="wang", password=PASSWORD, kind="api")  # a token that must not come back
    with make_session() as session, session.begin():
        wang = user(session, "wang")
        first = session.scalar(select(FaqEntry.id).where(FaqEntry.topic == "elevator").order_by(FaqEntry.id).limit(1))
        edited = staff.get_entry(session, entry_id=first)
        data = FaqInput.from_mapping({**staff.entry_dict(edited), "answer": EDITED_ANSWER})
        staff.update_entry(session, entry_id=edited.id, data=data, expected_version=edited.version, user=wang)
        doomed = session.scalar(select(FaqEntry).where(FaqEntry.topic == "rental").order_by(FaqEntry.id).limit(1))
        staff.delete_entry(session, entry_id=doomed.id, expected_version=doomed.version, user=wang)
        staff.create_entry(
            session,
            data=FaqInput(topic="plan", question="备份测试：新问题？", answer="新答复😀", source="第9条"),
            user=user(session, "li"),
        )
        inbox.record_unanswered(session, text="电梯加装要多久能批下来", topic="elevator")
        feedback.record_feedback(session, faq_id=edited.id, rating="down")
        feedback.record_feedback(session, faq_id=edited.id, rating="up")
        return edited.id


@pytest.fixture
def source(fresh_kb_url: str) -> tuple[str, int]:
    return fresh_kb_url, lived_in(fresh_kb_url)


def backup_file(url: str, tmp_path: Path) -> Path:
    path, _ = backup.write_backup(url, tmp_path / "backups")
    return path


def assert_restored(source_url: str, target_url: str, edited_id: int) -> None:
    assert rows(target_url) == rows(source_url)
    assert rows(target_url, tokens=True)["staff_tokens"] == []
    with get_sessionmaker(target_url)() as session:
        entry = staff.get_entry(session, entry_id=edited_id)
        assert entry.answer == EDITED_ANSWER and entry.version == 2 and entry.updated_by == "wang"
        assert [r.action for r in staff.revisions(session, entry_id=edited_id)][:1] == ["update"]
        assert staff.authenticate(session, username="wang", password=PASSWORD).role == "reviewer"  # the hash works
        assert session.scalar(select(FaqEntry).where(FaqEntry.deleted_at.is_not(None))) is not None


# -- round trips --------------------------------------------------------------------


def test_sqlite_backup_restores_every_row_into_a_fresh_sqlite(source: tuple[str, int], tmp_path: Path):
    url, edited_id = source
    path = backup_file(url, tmp_path)
    assert re.fullmatch(r"kb-\d{8}-\d{6}\.json\.gz", path.name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # password hashes and the audit log
    assert rows(url, tokens=True)["staff_tokens"]  # there was a token: it is not in the backup
    assert "staff_tokens" not in backup.read_backup(path)["tables"]

    target = f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    result = backup.restore(path, target)
    assert_restored(url, target, edited_id)
    assert result.counts["faq_entries"] == len(rows(url)["faq_entries"]) and result.deleted_faq_entries == 1
    summary = result.summary()
    assert "问答条目" in summary and "其中已删除 1 条" in summary and "重新登录" in summary
    # the restored knowledge base backs up to the same content
    assert backup.dump(target)["sha256"] == backup.dump(url)["sha256"]


def test_sqlite_backup_restores_into_postgresql_and_new_rows_get_new_ids(
    source: tuple[str, int], pg_url: str, tmp_path: Path
):
    url, edited_id = source
    result = backup.restore(backup_file(url, tmp_path), pg_url)  # an empty database: the restore creates the tables
    assert_restored(url, pg_url, edited_id)
    assert backup.dump(pg_url)["sha256"] == backup.dump(url)["sha256"]  # the same content, read from PostgreSQL
    with get_engine(pg_url).connect() as conn:  # the change counter moved: running answer engines re-read
        assert conn.scalar(select(KbVersion.version)) > 0

    # The ids were inserted explicitly: the sequences must have moved past them.
    largest = max(r[0] for r in rows(pg_url)["faq_entries"])
    with get_sessionmaker(pg_url)() as session, session.begin():
        new = staff.create_entry(
            session,
            data=FaqInput(topic="hukou", question="恢复后新建的问题？", answer="恢复后新建的答复。", source="第9条"),
            user=user(session, "wang"),
        )
        inbox.record_unanswered(session, text="恢复后的新问题", topic=None)
        feedback.record_feedback(session, faq_id=new.id, rating="up")
        new_id = new.id
    staff.log_in(get_sessionmaker(pg_url), username="li", password=PASSWORD, kind="session")
    assert new_id == largest + 1
    assert result.counts["staff_users"] == 2


def test_a_postgresql_backup_restores_into_sqlite(source: tuple[str, int], pg_url: str, tmp_path: Path):
    url, edited_id = source
    backup.restore(backup_file(url, tmp_path), pg_url)
    back = f"sqlite:///{tmp_path / 'back.sqlite3'}"
    backup.restore(backup_file(pg_url, tmp_path), back)
    assert_restored(url, back, edited_id)


# -- refusals -----------------------------------------------------------------------


def test_a_non_empty_knowledge_base_is_kept_unless_forced(source: tuple[str, int], tmp_path: Path):
    url, edited_id = source
    path = backup_file(url, tmp_path)
    target = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    build(url=target)
    with get_sessionmaker(target)() as session, session.begin():
        staff.create_user(session, username="zhao", password=PASSWORD, role="admin", actor="test")
    staff.log_in(get_sessionmaker(target), username="zhao", password=PASSWORD, kind="api")
    before = rows(target, tokens=True)

    with pytest.raises(backup.BackupError) as refused:
        backup.restore(path, target)
    assert "不是空的" in str(refused.value) and "--force" in str(refused.value)
    assert rows(target, tokens=True) == before

    result = backup.restore(path, target, force=True)
    assert_restored(url, target, edited_id)
    assert result.replaced["staff_users"] == 1 and result.replaced["staff_tokens"] == 1
    assert "原有内容已被覆盖" in result.summary()


def damaged_copies(path: Path) -> dict[str, bytes]:
    """The backup, damaged in every way a file can be: by the disk, by a person, by a program."""
    raw = path.read_bytes()
    document = json.loads(gzip.decompress(raw))

    def repacked(change) -> bytes:  # type: ignore[no-untyped-def]
        copy = json.loads(json.dumps(document))
        change(copy)
        if "tables" in copy and isinstance(copy["tables"], dict):
            copy["sha256"] = backup._digest(copy["tables"])  # a consistent checksum: only the content is wrong
        return gzip.compress(json.dumps(copy, ensure_ascii=False).encode())

    middle = len(raw) // 2
    faq = document["tables"]["faq_entries"]
    key_at = faq["columns"].index("key")
    when_at = faq["columns"].index("updated_at")
    return {
        "truncated": raw[: len(raw) - 1000],
        "truncated to nothing": b"",
        "a flipped byte": raw[:middle] + bytes([raw[middle] ^ 0x40]) + raw[middle + 1 :],
        "not gzip": b"entries:\n- id: 1\n",
        "gzip of garbage": gzip.compress(b"\xff\xfe not json"),
        "another JSON file": gzip.compress(b'{"entries": []}'),
        "edited without its checksum": gzip.compress(
            json.dumps(
                {**document, "tables": {**document["tables"], "documents": {"columns": [], "rows": []}}}
            ).encode()
        ),
        "a later format": repacked(lambda d: d.update(format_version=2)),
        "another schema revision": repacked(lambda d: d.update(alembic_revision="0001")),
        "a missing table": repacked(lambda d: d["tables"].pop("audit_events")),
        "a renamed column": repacked(lambda d: d["tables"]["targets"]["columns"].__setitem__(0, "ident")),
        "a short row": repacked(lambda d: d["tables"]["clauses"]["rows"][3].pop()),
        "an impossible date": repacked(lambda d: d["tables"]["faq_entries"]["rows"][0].__setitem__(when_at, "昨天")),
        "a number as text": repacked(lambda d: d["tables"]["faq_entries"]["rows"][0].__setitem__(0, "1")),
        # Passes every check of the file; the database refuses it half-way through the inserts.
        "a duplicate key": repacked(
            lambda d: d["tables"]["faq_entries"]["rows"][1].__setitem__(key_at, faq["rows"][0][key_at])
        ),
    }


def test_a_damaged_backup_is_refused_in_chinese_and_changes_nothing(source: tuple[str, int], tmp_path: Path):
    url, _ = source
    good = backup_file(url, tmp_path)
    kept = f"sqlite:///{tmp_path / 'kept.sqlite3'}"
    build(url=kept)
    before = rows(kept, tokens=True)
    for damage, data in damaged_copies(good).items():
        path = tmp_path / f"damaged-{damage.replace(' ', '-')}.json.gz"
        path.write_bytes(data)
        empty = tmp_path / f"empty-{damage.replace(' ', '-')}.sqlite3"
        for target in (kept, f"sqlite:///{empty}"):
            with pytest.raises(backup.BackupError) as refused:
                backup.restore(path, target, force=True)
            assert CHINESE.search(str(refused.value)), (damage, str(refused.value))
        assert rows(kept, tokens=True) == before, damage  # force, yet nothing was deleted
        if damage == "a duplicate key":  # refused by the database: the empty target got its tables, no rows
            assert all(not table_rows for table_rows in rows(f"sqlite:///{empty}", tokens=True).values())
        else:  # refused before the database was touched
            assert not empty.exists() or not sqlite_tables(empty)


def sqlite_tables(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        return [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


# -- the command line ---------------------------------------------------------------


def run_script(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """scripts/backup.py as staff run it (from another directory, to show it finds the project itself)."""
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [str(APP_PYTHON), str(PROJECT_ROOT / "scripts" / "backup.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_the_script_backs_up_and_restores_and_says_so_in_chinese(source: tuple[str, int], tmp_path: Path):
    url, edited_id = source
    made = run_script("backup", "--out", str(tmp_path / "out"), url=url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    (path,) = (tmp_path / "out").glob("kb-*.json.gz")
    assert str(path) in made.stdout and "已备份" in made.stdout

    target = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    restored = run_script("restore", str(path), url=target, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "已恢复备份" in restored.stdout and "问答条目" in restored.stdout
    assert_restored(url, target, edited_id)

    again = run_script("restore", str(path), url=target, cwd=tmp_path)
    assert again.returncode == 1 and "不是空的" in again.stderr and "Traceback" not in again.stderr
    forced = run_script("restore", str(path), "--force", url=target, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr

    missing = run_script("restore", str(tmp_path / "nope.json.gz"), url=target, cwd=tmp_path)
    assert missing.returncode == 1 and "无法读取备份文件" in missing.stderr
