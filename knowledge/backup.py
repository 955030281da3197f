"""Backup and restore of the whole knowledge base, portable between SQLite and PostgreSQL.

A backup is one gzip-compressed JSON file: every row of every table of ``knowledge.models``
(documents, clauses, targets, FAQ entries including soft-deleted ones, their revisions, staff
accounts with their Argon2 password hashes, the audit log, the inbox of unanswered questions,
residents' feedback and the vocabulary of everyday words), the Alembic revision of the schema, and a
SHA-256 of the rows.

Login tokens (``staff_tokens``) are left out on purpose. They are credentials, not knowledge:
they expire after 8 hours anyway, and restoring them would bring back sessions that were logged
out, or that belonged to accounts disabled since the backup. After a restore everyone logs in again.
The counts of failed logins per address (``login_failures``) are left out too: they are short-lived.

Why not ``pg_dump``: the knowledge base runs on SQLite (development, tests, small offices) as well
as PostgreSQL (production), and staff need to move it between the two. ``pg_dump`` does not work
for SQLite, and its output (PostgreSQL SQL, or its custom format) cannot be loaded into SQLite.
Going through the SQLAlchemy models reads and writes both with the same code, and the restore can
check what it loads (format, checksum, schema revision, columns) before it touches anything.
The file holds password hashes and the audit log: it is written readable by its owner only.

Restore:
- reads and checks the whole file first (gzip, JSON, checksum, tables and columns, every value);
  a damaged file is refused with a Chinese message before the database is touched;
- brings the target's schema to Alembic head (an empty database gets its tables) and refuses a
  backup taken at another schema revision;
- refuses a knowledge base that already has rows unless ``force`` is given;
- deletes and inserts in one transaction: all or nothing;
- on PostgreSQL, moves every id sequence past the restored ids, so new rows get new ids.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, DateTime, Engine, Numeric, Table, delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from knowledge.db import get_engine, upgrade_to_head
from knowledge.models import Base
from knowledge.settings import KNOWLEDGE_DIR, PROJECT_ROOT

FORMAT = "hangzhou-kb-backup"
FORMAT_VERSION = 1
BACKUP_DIR = PROJECT_ROOT / "var" / "backups"
NOT_BACKED_UP = ("staff_tokens", "login_failures")  # not knowledge: see the module docstring
# The knowledge base's change counter (migration 0010) is neither backed up nor emptied: a restore
# bumps it itself (PostgreSQL's triggers on the tables it rewrites), so running engines see the change.
KEPT = ("kb_version",)
TABLE_NAMES = {
    "documents": "文档",
    "clauses": "条款",
    "targets": "量化目标",
    "faq_entries": "问答条目",
    "faq_revisions": "修改记录",
    "faq_proposals": "修改提议",
    "staff_users": "工作人员账号",
    "staff_tokens": "登录令牌",
    "login_failures": "登录失败计数",
    "audit_events": "操作日志",
    "unanswered_questions": "未解答问题",
    "answer_feedback": "居民反馈",
    "vocabulary_terms": "常用说法词表",
    "inbox_groups": "未解答问题组",
    "answer_events": "回答统计",
    "desk_staff": "人工服务值班",
    "handoffs": "转人工会话",
    "handoff_messages": "转人工消息",
}
INSERT_BATCH = 500


class BackupError(Exception):
    """A backup that cannot be written or restored; the message is in Chinese, for the person running it."""


@dataclass
class RestoreResult:
    counts: dict[str, int]
    deleted_faq_entries: int
    revision: str
    created_at: str
    replaced: dict[str, int]  # rows that were in the database before (only with force)

    def summary(self) -> str:
        parts = []
        for name, count in sorted(self.counts.items(), key=lambda item: _order(item[0])):
            part = f"{TABLE_NAMES.get(name, name)} {count} 条"
            if name == "faq_entries" and self.deleted_faq_entries:
                part += f"（其中已删除 {self.deleted_faq_entries} 条）"
            parts.append(part)
        lines = [
            f"已恢复备份（备份时间 {self.created_at}，数据库版本 {self.revision}）：",
            "、".join(parts) + "。",
            "登录令牌不在备份中：所有工作人员需要重新登录。",
        ]
        if any(self.replaced.values()):
            lines.append("原有内容已被覆盖（" + describe_counts(self.replaced) + "）。")
        return "\n".join(lines)


def _order(table_name: str) -> int:
    names = list(TABLE_NAMES)
    return names.index(table_name) if table_name in names else len(names)


def describe_counts(counts: Mapping[str, int]) -> str:
    return "、".join(f"{TABLE_NAMES.get(n, n)} {c} 条" for n, c in counts.items() if c)


def backed_up_tables() -> list[Table]:
    """The tables in a backup, parents before children (the order rows can be inserted in)."""
    return [t for t in Base.metadata.sorted_tables if t.name not in (*NOT_BACKED_UP, *KEPT)]


def head_revision() -> str:
    script = ScriptDirectory(str(KNOWLEDGE_DIR / "migrations"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


# -- values <-> JSON ----------------------------------------------------------------


def _to_json(table: Table) -> list[Callable[[Any], Any]]:
    """Per column: a Python value as read from the database -> a JSON value (the same from SQLite and PostgreSQL)."""
    converters: list[Callable[[Any], Any]] = []
    for column in table.columns:
        if isinstance(column.type, DateTime):
            converters.append(_datetime_to_json)
        elif isinstance(column.type, Numeric) and column.type.asdecimal:
            scale = column.type.scale or 0
            converters.append(lambda v, scale=scale: None if v is None else f"{Decimal(v):.{scale}f}")
        else:
            converters.append(lambda v: v)
    return converters


def _datetime_to_json(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite keeps no time zone; the application writes UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat()


def _from_json(table: Table) -> list[Callable[[Any], Any]]:
    """Per column: a JSON value from a backup -> the Python value to insert; ValueError when it cannot be one."""
    converters: list[Callable[[Any], Any]] = []
    for column in table.columns:
        if isinstance(column.type, DateTime):
            converters.append(_datetime_from_json)
        elif isinstance(column.type, Numeric) and column.type.asdecimal:
            converters.append(_decimal_from_json)
        else:
            python_type = _python_type(column)
            converters.append(lambda v, t=python_type: _check_type(v, t))
    return converters


def _datetime_from_json(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"时间应为文字，现为 {type(value).__name__}")
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _decimal_from_json(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"“{str(value)[:20]}”不是数字") from None
    if not number.is_finite():
        raise ValueError(f"“{value}”不是数字")
    return number


def _python_type(column: Any) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _check_type(value: Any, python_type: type | None) -> Any:
    if value is None or python_type is None:
        return value
    if python_type is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"应为整数，现为 {type(value).__name__}")
    if python_type is bool and not isinstance(value, bool):
        raise ValueError(f"应为 true/false，现为 {type(value).__name__}")
    if python_type is str and not isinstance(value, str):
        raise ValueError(f"应为文字，现为 {type(value).__name__}")
    if python_type in (dict, list) and not isinstance(value, (dict, list)):
        raise ValueError(f"应为 JSON 列表或对象，现为 {type(value).__name__}")
    return value


def _digest(tables: Any) -> str:
    canonical = json.dumps(tables, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# -- backup -------------------------------------------------------------------------


def dump(url: str | None = None) -> dict[str, Any]:
    """The whole knowledge base as one JSON-ready document, read in one consistent snapshot."""
    engine = get_engine(url)
    try:
        return _dump(engine)
    except SQLAlchemyError as exc:
        raise BackupError(
            f"无法读取数据库 {engine.url.render_as_string(hide_password=True)}：{_first_line(exc)}"
        ) from None


def _first_line(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]


def _dump(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # one read transaction: a snapshot of every table (WAL)
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        revision = current_revision(conn)
        if revision is None:
            raise BackupError(
                "这个数据库还没有知识库的表（没有 Alembic 版本）：请先运行 make kb，或检查 DATABASE_URL。"
            )
        tables: dict[str, Any] = {}
        for table in backed_up_tables():
            converters = _to_json(table)
            rows = conn.execute(select(table).order_by(*table.primary_key.columns))
            tables[table.name] = {
                "columns": [c.name for c in table.columns],
                "rows": [[convert(v) for convert, v in zip(converters, row, strict=True)] for row in rows],
            }
        conn.rollback()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "database": engine.dialect.name,
        "alembic_revision": revision,
        "counts": {name: len(table["rows"]) for name, table in tables.items()},
        "sha256": _digest(tables),
        "tables": tables,
    }


def write_backup(url: str | None = None, directory: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Write ``kb-YYYYmmdd-HHMMSS.json.gz`` (local time) into ``directory``; the path and the document."""
    document = dump(url)
    directory = directory or BACKUP_DIR
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    data = gzip.compress(json.dumps(document, ensure_ascii=False).encode("utf-8"), compresslevel=6)
    # Written under a temporary name and renamed: a crash never leaves a half-written kb-*.json.gz behind.
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".kb-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        for n in range(100):
            path = directory / (f"kb-{stamp}.json.gz" if n == 0 else f"kb-{stamp}-{n}.json.gz")
            if not path.exists():
                os.replace(temporary, path)
                return path, document
        raise BackupError(f"备份目录 {directory} 中同一秒的备份文件太多。")
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


# -- restore ------------------------------------------------------------------------


def read_backup(path: Path) -> dict[str, Any]:
    """The checked document of a backup file; BackupError (Chinese) for anything that is not a sound backup."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BackupError(f"无法读取备份文件 {path}：{exc.strerror or exc}。") from None
    try:
        data = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error):
        raise BackupError(f"备份文件 {path.name} 已损坏或不完整（无法解压），没有恢复任何内容。") from None
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        raise BackupError(f"备份文件 {path.name} 的内容已损坏（不是有效的 JSON），没有恢复任何内容。") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupError(f"{path.name} 不是本系统的知识库备份文件。")
    if document.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"备份格式版本 {document.get('format_version')!r} 不受支持（本程序支持版本 {FORMAT_VERSION}）。"
        )
    tables = document.get("tables")
    if not isinstance(tables, dict) or document.get("sha256") != _digest(tables):
        raise BackupError(f"备份文件 {path.name} 校验失败：内容与备份时不一致（被修改或损坏），没有恢复任何内容。")
    if not isinstance(document.get("alembic_revision"), str):
        raise BackupError(f"备份文件 {path.name} 缺少数据库版本信息。")
    expected = {t.name for t in backed_up_tables()}
    if set(tables) != expected:
        missing, extra = sorted(expected - set(tables)), sorted(set(tables) - expected)
        raise BackupError(
            f"备份中的表与本程序不符（缺少：{'、'.join(missing) or '无'}；多出：{'、'.join(extra) or '无'}）。"
            "请使用与备份时相同版本的程序恢复。"
        )
    return document


def _rows_to_insert(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every row of the backup as values for the current models; BackupError names the first bad one."""
    prepared: dict[str, list[dict[str, Any]]] = {}
    for table in backed_up_tables():
        content = document["tables"][table.name]
        names = [c.name for c in table.columns]
        if (
            not isinstance(content, dict)
            or content.get("columns") != names
            or not isinstance(content.get("rows"), list)
        ):
            raise BackupError(f"备份中表 {table.name} 的列与本程序不符，请使用与备份时相同版本的程序恢复。")
        converters = _from_json(table)
        rows = []
        for n, row in enumerate(content["rows"], start=1):
            if not isinstance(row, list) or len(row) != len(names):
                raise BackupError(f"备份中表 {table.name} 第{n}行的列数不对，备份文件已损坏。")
            try:
                rows.append({name: convert(v) for name, convert, v in zip(names, converters, row, strict=True)})
            except (ValueError, TypeError) as exc:
                raise BackupError(f"备份中表 {table.name} 第{n}行有无法恢复的值（{exc}），备份文件已损坏。") from None
        prepared[table.name] = rows
    return prepared


def count_rows(conn: Connection) -> dict[str, int]:
    tables = [t for t in Base.metadata.sorted_tables if t.name not in KEPT]
    return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0 for t in tables}


def restore(path: Path, url: str | None = None, *, force: bool = False) -> RestoreResult:
    """Restore ``path`` into the knowledge base at ``url`` (default ``DATABASE_URL``): all of it or nothing."""
    document = read_backup(path)
    rows = _rows_to_insert(document)  # every value checked before the database is touched
    head = head_revision()
    if document["alembic_revision"] != head:
        raise BackupError(
            f"备份的数据库版本为 {document['alembic_revision']}，本程序的数据库版本为 {head}：无法直接恢复。"
            "请用与备份时相同版本的程序恢复到空数据库，再用新版本的程序升级（make kb）。"
        )
    engine = get_engine(url)
    try:
        upgrade_to_head(url)  # an empty database gets its tables; one at an older revision is migrated
        with engine.begin() as conn:
            revision = current_revision(conn)
            if revision != head:
                raise BackupError(f"目标数据库的版本为 {revision}，与本程序（{head}）不符，没有恢复任何内容。")
            before = count_rows(conn)
            present = {name: n for name, n in before.items() if n and name not in NOT_BACKED_UP}
            if present and not force:
                raise BackupError(
                    f"目标知识库不是空的（{describe_counts(present)}），恢复会覆盖这些内容，所以没有恢复。"
                    "确认要用备份覆盖时，请加 --force（make restore FILE=… FORCE=1）。"
                )
            for table in reversed(Base.metadata.sorted_tables):  # children first
                if table.name not in KEPT:
                    conn.execute(delete(table))
            for table in backed_up_tables():  # parents first
                values = rows[table.name]
                for start in range(0, len(values), INSERT_BATCH):
                    conn.execute(insert(table), values[start : start + INSERT_BATCH])
            if conn.dialect.name == "postgresql":
                reset_sequences(conn)
    except SQLAlchemyError as exc:
        raise BackupError(f"恢复失败，数据库没有任何改动：{_first_line(exc)}") from None
    return RestoreResult(
        counts={name: len(values) for name, values in rows.items()},
        deleted_faq_entries=sum(1 for r in rows["faq_entries"] if r.get("deleted_at") is not None),
        revision=document["alembic_revision"],
        created_at=str(document.get("created_at", "未知")),
        replaced={name: n for name, n in before.items() if n},
    )


def reset_sequences(conn: Connection) -> None:
    """PostgreSQL: the next id of every table after the largest one restored (rows were inserted with their ids)."""
    for table in Base.metadata.sorted_tables:
        if "id" not in table.primary_key.columns:
            continue
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:name, 'id'), "  # table names come from the models
                f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
            ),
            {"name": table.name},
        )
