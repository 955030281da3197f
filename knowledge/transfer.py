"""Import and export of FAQ entries as CSV (for Excel) or YAML.

Export writes every entry that is not deleted. CSV is UTF-8 *with* a BOM so
that Excel shows the Chinese correctly; alternative phrasings are joined with
" | ". YAML is ``entries:`` followed by a list.

Import is all-or-nothing and checked row by row before anything is written:

- a row with ``id`` updates that entry, but only if its ``version`` is still
  the current one (otherwise the entry changed since the export and the row is
  refused, unless the row already equals the current content);
- a row without ``id`` creates an entry (draft, or published when
  ``status`` is ``published`` and the user is a reviewer); ``key`` identifies
  entries seeded from ``knowledge/faq/*.yml``: it is checked on updates and
  ignored on new rows;
- a row equal to the entry counts as unchanged and is not written;
- every row's answer must pass the grounding rule (``knowledge.grounding``: no figure its clause
  lacks, no empty or placeholder answer), as every save does;
- a changed row of a published entry, from someone who may not change live answers directly
  (an editor; with ``FOUR_EYES=1`` everyone), becomes a proposal for a reviewer
  (``knowledge.proposals``), counted as ``proposed``; under four-eyes nobody publishes their own
  new or changed rows;
- ``review_by`` (optional column, knowledge.review_dates): a row that changes an entry's review
  date needs a reviewer and a date not in the past; a file without the column leaves review dates
  as they are, an empty cell clears one;
- every bad row is reported with its line (CSV: the physical line in the file,
  header = line 1; YAML: the entry's number, 第N条; 0 = the file as a whole).

If any row is bad, or on a dry run, nothing is written. Cells that Excel would
read as a formula (``=``, ``+``, ``-``, ``@``…) get a leading ``'`` on CSV
export, which import removes again, so a round trip is exact.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from knowledge import grounding, proposals, review_dates, staff
from knowledge.models import Clause, FaqEntry, StaffUser
from knowledge.publishing import content_author
from knowledge.settings import four_eyes
from knowledge.staff import FaqInput, Invalid, StaffError

FORMATS = ("csv", "yaml")
COLUMNS = ("id", "key", "topic", "question", "alternatives", "answer", "source", "status", "version", "review_by")
REQUIRED_COLUMNS = ("topic", "question", "answer", "source")
ALTERNATIVES_SEPARATOR = " | "
MAX_ROWS = 5000
MAX_KEY_CHARS = 80
MAX_SOURCE_CHARS = 40
BOM = "\ufeff"
_FORMULA_START = re.compile(r"^'*[=+\-@\t\r]")  # what Excel would evaluate (CSV injection)
_ESCAPED_FORMULA = re.compile(r"^'+[=+\-@\t\r]")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    proposed: int = 0  # changes to published entries stored as proposals for a reviewer
    errors: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False
    changes: list[dict[str, Any]] = field(default_factory=list)  # what would be / was written, for the preview

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "proposed": self.proposed,
            "errors": [{"line": line, "message": message} for line, message in self.errors],
            "dry_run": self.dry_run,
            "ok": self.ok,
            "changes": self.changes,
        }


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Invalid("invalid_format", "format 必须是 csv 或 yaml。")
    return fmt


# -- export -------------------------------------------------------------------------


def _export_rows(session: Session) -> list[dict[str, Any]]:
    stmt = (
        select(FaqEntry).options(joinedload(FaqEntry.clause)).where(FaqEntry.deleted_at.is_(None)).order_by(FaqEntry.id)
    )
    return [
        {
            "id": e.id,
            "key": e.key,
            "topic": e.topic,
            "question": e.question,
            "alternatives": list(e.alternatives or []),
            "answer": e.answer,
            "source": e.clause.ref,
            "status": e.status,
            "version": e.version,
            "review_by": e.review_by,
        }
        for e in session.scalars(stmt)
    ]


def _excel_safe(value: str) -> str:
    return "'" + value if _FORMULA_START.match(value) else value


def _excel_unescape(value: str) -> str:
    return value[1:] if _ESCAPED_FORMULA.match(value) else value


class _Dumper(yaml.SafeDumper):
    """Multi-line answers as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def export_entries(session: Session, *, fmt: str) -> bytes:
    rows = _export_rows(session)
    if check_format(fmt) == "yaml":
        text = yaml.dump({"entries": rows}, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
        return text.encode("utf-8")
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n" line ends, quotes where needed: what Excel expects
    writer.writerow(COLUMNS)
    for row in rows:
        cells = {
            **row,
            "alternatives": ALTERNATIVES_SEPARATOR.join(row["alternatives"]),
            "key": row["key"] or "",
            "review_by": row["review_by"] or "",
        }
        writer.writerow([_excel_safe(c) if isinstance(c, str) else c for c in (cells[name] for name in COLUMNS)])
    return (BOM + out.getvalue()).encode("utf-8")


# -- reading a file -----------------------------------------------------------------


@dataclass
class _Row:
    line: int
    where: str  # 第3行 (CSV) | 第3条 (YAML)
    values: dict[str, Any]


class _FileError(Exception):
    """The file as a whole cannot be read; ``line`` where known, else 0."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message, self.line = message, line


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gbk"):  # utf-8-sig also reads UTF-8 without a BOM
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _FileError("文件编码无法识别，请使用 UTF-8 或 GBK")


def _read_csv(text: str) -> list[_Row]:
    # newline="": lines end at \n, \r\n or \r, as they would in an editor; quoted cells keep their line breaks.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise _FileError(f"第1行：表头无法读取（{exc}）。", 1) from None
    names = [h.strip().lstrip(BOM).lower() for h in header or []]
    if not any(names):
        raise _FileError("文件为空：第1行应是表头，如 " + ",".join(COLUMNS) + "。", 1)
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        raise _FileError(f"第1行：表头中的列重复：{'、'.join(duplicates)}。", 1)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise _FileError(f"第1行：缺少列 {'、'.join(missing)}（表头应为 {','.join(COLUMNS)}）。", 1)
    known = {i: n for i, n in enumerate(names) if n in COLUMNS}
    rows: list[_Row] = []
    while True:
        line = reader.line_num + 1  # where the next record starts
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _FileError(f"第{line}行：CSV 格式错误，请检查这一行的引号是否成对（{exc}）。", line) from None
        if not any(c.strip() for c in cells):
            continue  # blank line, or a row Excel left with empty cells only
        values: dict[str, Any] = {}
        for i, cell in enumerate(cells):
            if i in known:
                values[known[i]] = _excel_unescape(cell.replace("\r\n", "\n").replace("\r", "\n"))
        if len(cells) > len(names) and any(c.strip() for c in cells[len(names) :]):
            values["_extra"] = True
        alternatives = values.get("alternatives") or ""
        values["alternatives"] = [a for a in re.split(r"[|\n]", alternatives) if a.strip()]
        rows.append(_Row(line=line, where=f"第{line}行", values=values))
        if len(rows) > MAX_ROWS:
            break
    return rows


def _read_yaml(text: str) -> list[_Row]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"（第{mark.line + 1}行附近）" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise _FileError(f"YAML 格式错误{where}：{problem}") from None
    except RecursionError:
        raise _FileError("YAML 文件嵌套层数太多，无法读取（与导出的文件格式不同）。") from None
    except Exception:  # PyYAML's constructors fail in many ways: 2024-13-45, 0x_, !!bool x, "!!int " (IndexError)
        raise _FileError(
            "YAML 文件中有无法识别的值（如不存在的日期、写错的数字或 !! 标签），请检查后重新导入；文字可加引号。"
        ) from None
    if document is None:
        document = {"entries": []}
    items = document.get("entries") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise _FileError("YAML 文件应为 “entries:” 后跟条目列表（与导出的文件格式相同）。")
    rows = []
    for n, item in enumerate(items[: MAX_ROWS + 1], start=1):
        values: dict[str, Any] = {}
        if isinstance(item, dict):
            for name in COLUMNS:
                if name == "review_by" and name not in item:
                    continue  # a file without review dates leaves them as they are
                value = item.get(name)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and name not in ("id", "version"):
                    value = str(value)  # answer: 2025 is still text
                values[name] = value
        else:
            values["_not_mapping"] = True
        rows.append(_Row(line=n, where=f"第{n}条", values=values))
    return rows


# -- checking and applying ----------------------------------------------------------


@dataclass
class _Plan:
    row: _Row
    action: str  # create | update | unchanged | propose
    data: FaqInput | None = None
    entry: FaqEntry | None = None
    status: str = "draft"
    version: int | None = None
    content_changed: bool = False
    review_by: str | None = None
    review_changed: bool = False


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _shown(value: Any, limit: int = 30) -> str:
    """A short echo of what the file holds, for a message (never the repr of a list or mapping)."""
    if not isinstance(value, (str, int, float)):
        return {list: "列表", dict: "映射"}.get(type(value), type(value).__name__)
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _integer(value: Any, name: str) -> int | None:
    """None when empty; raises ValueError with a Chinese message when not a whole number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} 必须是整数。")
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value.strip()):
        value = int(value.strip())
    if isinstance(value, int) and value > 0:
        return value
    raise ValueError(f"{name} 必须是正整数，现为“{_shown(value)}”。")


def _content(entry: FaqEntry) -> tuple[Any, ...]:
    return (entry.topic, entry.question, list(entry.alternatives or []), entry.answer, entry.clause.ref)


def _input_content(data: FaqInput, clause: Clause) -> tuple[Any, ...]:
    return (data.topic, data.question, list(data.alternatives), data.answer, clause.ref)


def _check(
    session: Session,
    rows: list[_Row],
    user: StaffUser,
    report: ImportReport,
) -> list[_Plan]:
    """Every row checked without writing: the plans, and the problems into ``report.errors``."""
    entries = {e.id: e for e in session.scalars(select(FaqEntry).options(joinedload(FaqEntry.clause)))}
    clauses = {c.ref: c for c in session.scalars(select(Clause))}
    is_reviewer = staff.ROLES[user.role] >= staff.ROLES["reviewer"]
    role_name = staff.ROLE_NAMES.get(user.role, user.role)
    seen_ids: dict[int, int] = {}
    plans: list[_Plan] = []
    for row in rows:
        v = row.values
        problems: list[str] = []
        if v.get("_not_mapping"):
            report.errors.append((row.line, f"{row.where}：每个条目必须是“名称: 内容”的映射。"))
            continue
        if v.get("_extra"):
            problems.append("本行的列数多于表头，请检查是否有未加引号的逗号。")
        mapping = {name: v.get(name) for name in ("topic", "question", "answer", "source", "alternatives")}
        data: FaqInput | None = None
        try:
            data = FaqInput.from_mapping(mapping)
        except Invalid as exc:
            problems.append(exc.message)
        clause: Clause | None = None
        source = _text(v.get("source"))
        if source:
            clause = clauses.get(source)
            if clause is None:
                try:
                    clause = staff.clause_for_ref(session, source[:MAX_SOURCE_CHARS])
                except Invalid as exc:
                    problems.append(exc.message)
        if data is not None and clause is not None:
            problem = grounding.check(
                question=data.question, answer=data.answer, clause_ref=clause.ref, clause_text=clause.text
            )
            if problem is not None:
                problems.append(problem.message)
        status = _text(v.get("status")).lower()
        if status and status not in ("draft", "published"):
            problems.append(f"状态必须是 draft（草稿）或 published（已发布），现为“{_shown(v.get('status'))}”。")
            status = ""
        try:
            entry_id = _integer(v.get("id"), "id")
        except ValueError as exc:
            problems.append(str(exc))
            entry_id = -1
        try:
            version = _integer(v.get("version"), "version")
        except ValueError as exc:
            problems.append(str(exc))
            version = -1
        key = _text(v.get("key"))
        if len(key) > MAX_KEY_CHARS:
            problems.append(f"key 太长：最多{MAX_KEY_CHARS}个字符。")
        review_given, review_by = "review_by" in v, None
        if review_given:
            try:
                review_by = review_dates.parse_review_by(v.get("review_by"))
            except Invalid as exc:
                problems.append(exc.message)
                review_given = False

        plan: _Plan | None = None
        review_changed = False
        if entry_id is None:  # a new entry
            review_changed = review_given and review_by is not None
            status = status or "draft"
            if status == "published" and not is_reviewer:
                problems.append(
                    f"新建并直接发布条目需要审核员及以上角色（您的角色：{role_name}）；可把状态改为 draft。"
                )
            elif status == "published" and four_eyes():
                problems.append(FOUR_EYES_NEW)
            plan = _Plan(row=row, action="create", data=data, status=status)
        elif entry_id >= 0:
            entry = entries.get(entry_id)
            if entry_id in seen_ids:
                problems.append(f"id {entry_id} 与第{seen_ids[entry_id]}{row.where[-1]}重复：同一条目只能出现一次。")
            seen_ids.setdefault(entry_id, row.line)
            if entry is None:
                problems.append(f"没有编号为 {entry_id} 的条目；新条目请把 id 留空。")
            elif entry.deleted_at is not None:
                problems.append(f"编号为 {entry_id} 的条目已删除，请先在管理页面恢复，或把 id 留空作为新条目导入。")
            else:
                if key and key != (entry.key or ""):
                    problems.append(
                        f"编号为 {entry_id} 的条目 key 为“{entry.key or ''}”，与文件中的“{_shown(key, 80)}”不符，"
                        "请检查 id 是否正确。"
                    )
                status = status or entry.status
                same = data is not None and clause is not None and _input_content(data, clause) == _content(entry)
                review_changed = review_given and review_by != entry.review_by
                if same and status == entry.status and not review_changed:
                    plan = _Plan(row=row, action="unchanged", entry=entry, status=status)
                elif version is None:
                    problems.append("有 id 的行必须填写 version（导出时的版本号），否则无法确认条目没有被他人修改。")
                elif version >= 0 and version != entry.version:
                    problems.append(
                        f"编号为 {entry_id} 的条目在导出后已被修改（文件中版本 {version}，当前版本 {entry.version}），"
                        "本行没有覆盖。请重新导出最新内容，再把修改填进去。"
                    )
                else:
                    proposes = (
                        not same and status == entry.status == "published" and proposals.needs_proposal(entry, user)
                    )
                    if status != entry.status and not is_reviewer:
                        problems.append(f"更改发布状态需要审核员及以上角色（您的角色：{role_name}）。")
                    elif status == "published" != entry.status and four_eyes():
                        author = user.username if not same else content_author(session, entry)
                        if author == user.username:
                            problems.append(FOUR_EYES_PUBLISH)
                    plan = _Plan(
                        row=row,
                        action="propose" if proposes else "update",
                        data=data,
                        entry=entry,
                        status=status,
                        version=version,
                        content_changed=not same,
                    )
        if review_changed:
            problems.extend(_review_problems(review_by, is_reviewer, role_name))
        if plan is not None:
            plan.review_by, plan.review_changed = review_by, review_changed
        if problems:
            report.errors.append((row.line, f"{row.where}：" + "；".join(p.rstrip("。") for p in problems) + "。"))
        elif plan is not None:
            plans.append(plan)
    return plans


def _review_problems(review_by: str | None, is_reviewer: bool, role_name: str) -> list[str]:
    """Why a row may not change an entry's review date (knowledge.review_dates), if it may not."""
    if not is_reviewer:
        return [f"更改核对日期 review_by 需要审核员及以上角色（您的角色：{role_name}）；可保留导出时的核对日期。"]
    if review_by is not None and review_dates.is_overdue(review_by):
        return [f"核对日期 review_by 不能早于今天（{review_dates.today().isoformat()}）。"]
    return []


FOUR_EYES_NEW = "四眼原则：不能直接发布自己导入的新条目；请把状态改为 draft，由另一位审核员发布。"
FOUR_EYES_PUBLISH = "四眼原则：不能发布自己修改的内容；请保留原状态，由另一位审核员发布。"


def _apply(session: Session, plans: Iterable[_Plan], user: StaffUser) -> None:
    for plan in plans:
        try:
            if plan.action == "propose":
                assert plan.entry is not None and plan.data is not None
                proposals.save_entry(
                    session, entry_id=plan.entry.id, data=plan.data, expected_version=plan.version, user=user
                )
            elif plan.action == "create":
                assert plan.data is not None
                entry = staff.create_entry(session, data=plan.data, user=user, publish=plan.status == "published")
                plan.entry = entry
            elif plan.action == "update":
                assert plan.entry is not None and plan.data is not None
                entry = plan.entry
                if plan.status == "draft" and entry.status == "published":  # unpublished first, then changed
                    entry = staff.set_status(
                        session, entry_id=entry.id, status="draft", expected_version=entry.version, user=user
                    )
                if plan.content_changed:
                    entry = staff.update_entry(
                        session, entry_id=entry.id, data=plan.data, expected_version=entry.version, user=user
                    )
                if plan.status != entry.status:
                    entry = staff.set_status(
                        session, entry_id=entry.id, status=plan.status, expected_version=entry.version, user=user
                    )
            if plan.review_changed and plan.entry is not None:
                review_dates.set_review_by(session, entry_id=plan.entry.id, review_by=plan.review_by, user=user)
        except StaffError as exc:
            raise _RowFailed(plan.row, exc.message) from exc
        except StaleDataError as exc:  # changed by someone else while this import ran
            raise _RowFailed(plan.row, "该条目刚刚被他人修改，本行没有覆盖。请重新导出后再导入。") from exc


class _RowFailed(Exception):
    def __init__(self, row: _Row, message: str) -> None:
        super().__init__(message)
        self.row, self.message = row, message


def import_entries(session: Session, *, data: bytes, fmt: str, user: StaffUser, dry_run: bool) -> ImportReport:
    """Check the whole file, then write all of it or nothing (never on a dry run)."""
    check_format(fmt)
    report = ImportReport(dry_run=dry_run)
    try:
        text = _decode(data)
        rows = _read_csv(text) if fmt == "csv" else _read_yaml(text)
    except _FileError as exc:
        report.errors.append((exc.line, exc.message))
        return report
    if len(rows) > MAX_ROWS:
        unit = "行" if fmt == "csv" else "条"
        report.errors.append(
            (0, f"一次最多导入{MAX_ROWS}条，文件中超过了这个数量（第{rows[-1].line}{unit}起）。请分批导入。")
        )
        return report

    plans = _check(session, rows, user, report)
    report.unchanged = sum(plan.action == "unchanged" for plan in plans)
    report.created = sum(plan.action == "create" for plan in plans)
    report.updated = sum(plan.action == "update" for plan in plans)
    report.proposed = sum(plan.action == "propose" for plan in plans)
    if report.errors or dry_run:
        report.changes = _changes(plans)
        return report

    try:
        with session.begin_nested():  # a SAVEPOINT: a failure half-way undoes the rows already written
            _apply(session, plans, user)
            staff.audit(
                session,
                actor=user.username,
                action="faq.import",
                target=f"import:{fmt}",
                detail=(
                    f"created={report.created} updated={report.updated} unchanged={report.unchanged}"
                    f" proposed={report.proposed}"
                ),
            )
    except _RowFailed as exc:
        report.errors.append((exc.row.line, f"{exc.row.where}：{exc.message}"))
        for plan in plans:
            if plan.action == "create":
                plan.entry = None  # rolled back: it has no id
    report.changes = _changes(plans)  # after writing: new entries have their id
    return report


def _changes(plans: list[_Plan]) -> list[dict[str, Any]]:
    """What the import writes (or would write), row by row, for the preview."""
    return [
        {
            "line": plan.row.line,
            "action": plan.action,
            "id": plan.entry.id if plan.entry is not None else None,
            "question": plan.data.question if plan.data is not None else "",
            "status": plan.status,
        }
        for plan in plans
        if plan.action != "unchanged"
    ]
