"""History and audit as staff read them: plain Chinese, people by name, filters.

The database keeps short codes (``faq.update``, ``faq:21``, ``v2``); this module turns them
into what a person says: "修改条目 · 条目 #21 · 版本 2", topics and statuses by name, the
build as "知识库构建（系统）", a restore as "恢复为版本 N", an approval with its proposer. It
also says which entry, version and proposal a line is about, so the pages can link to them.
The API and the admin read the same views. Read only: nothing here writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from knowledge.accounts import display_names
from knowledge.models import AuditEvent, FaqProposal, FaqRevision
from knowledge.roles import ROLE_NAMES
from knowledge.staff import NUL, as_utc, revision_diff, revisions

CHINA_TIME = timezone(timedelta(hours=8))  # no daylight saving in China

REVISION_ACTIONS = {
    "create": "创建",
    "update": "修改",
    "publish": "发布",
    "unpublish": "撤回发布",
    "delete": "删除",
    "restore": "恢复已删除的条目",
    "restore_version": "恢复为历史版本",
    "approve": "批准修改提议",
    "build": "知识库构建导入",
}
AUDIT_ACTIONS = {
    "login": "登录",
    "login.failed": "登录失败",
    "login.locked": "账号被临时锁定",
    "user.create": "添加用户",
    "user.disable": "停用用户",
    "user.enable": "启用用户",
    "user.role": "更改角色",
    "user.reset_password": "重置密码",
    "user.password": "修改自己的密码",
    "user.profile": "修改姓名或部门",
    "faq.create": "新建条目",
    "faq.update": "修改条目",
    "faq.publish": "发布条目",
    "faq.unpublish": "撤回发布",
    "faq.delete": "删除条目",
    "faq.restore": "恢复已删除的条目",
    "faq.restore_version": "恢复历史版本",
    "faq.approve": "采纳修改提议",
    "faq.import": "导入条目",
    "faq.review_by": "设置核对日期",
    "faq.renew": "核对并续期",
    "proposal.create": "提交修改提议",
    "proposal.approve": "批准修改提议",
    "proposal.reject": "驳回修改提议",
    "inbox.dismiss": "忽略未解答问题",
    "inbox.dismiss_group": "忽略未解答问题组",
    "inbox.attach": "把未解答问题归入条目",
    "inbox.draft": "由未解答问题新建草稿",
    "faq.takeover": "确认条目回答其他条目的问题",
    "duty_on": "开始值班（人工服务）",
    "duty_off": "结束值班（人工服务）",
    "desk_allow": "授予人工服务权限",
    "desk_deny": "收回人工服务权限",
    "handoff_request": "居民请求转人工",
    "handoff_no_staff": "无人值班，已告知12345",
    "handoff_timeout": "无人接入，已告知12345",
    "handoff_claim": "接入转人工会话",
    "handoff_reply": "回复居民",
    "handoff_close": "结束转人工会话",
    "handoff_not_delivered": "回复未能送达居民（微信）",
}
# The action filter: a group name -> the codes' common prefix.
ACTION_GROUPS = {
    "faq": ("条目的修改和发布", "faq."),
    "proposal": ("修改提议", "proposal."),
    "login": ("登录", "login"),
    "user": ("账号管理", "user."),
    "inbox": ("未解答问题", "inbox."),
    "handoff": ("转人工会话", "handoff_"),
    "duty": ("值班", "duty_"),
    "desk": ("人工服务权限", "desk_"),
}
TARGET_KINDS = {
    "faq": "条目",
    "user": "用户",
    "proposal": "修改提议",
    "unanswered": "未解答问题",
    "inbox_group": "未解答问题组",
    "import": "导入",
}
_VERSION = re.compile(r"\bv(\d+)\b")
_FROM = re.compile(r"\bfrom v(\d+)\b")
_PROPOSAL = re.compile(r"\bproposal (\d+)\b")
_FAQ = re.compile(r"\bfaq:(\d+)\b")
_IMPORT_COUNTS = {"created": "新建", "updated": "修改", "unchanged": "未变", "proposed": "转为修改提议"}
MAX_EVENTS = 500


def china_date(moment: datetime) -> str:
    return as_utc(moment).astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def revision_action_name(action: str, restored_from: int | None) -> str:
    if action == "restore_version" and restored_from is not None:
        return f"恢复为版本 {restored_from}"
    return REVISION_ACTIONS.get(action, action)


def revision_items(session: Session, *, entry_id: int) -> list[dict[str, Any]]:
    """An entry's revisions, newest first, each with its diff to the one before and names in Chinese."""
    found = revisions(session, entry_id=entry_id)
    names = display_names(session)
    proposal_ids = {r.proposal_id for r in found if r.proposal_id is not None}
    proposers = dict(
        session.execute(select(FaqProposal.id, FaqProposal.proposed_by).where(FaqProposal.id.in_(proposal_ids)))
        .tuples()
        .all()
    )
    items = []
    for i, rev in enumerate(found):
        older = found[i + 1].snapshot if i + 1 < len(found) else None
        proposer = proposers.get(rev.proposal_id) if rev.proposal_id is not None else None
        name = revision_action_name(rev.action, rev.restored_from)
        if rev.proposal_id is not None:
            name += f"（修改提议 #{rev.proposal_id}，由 {names.get(proposer or '', proposer)} 提议）"
        items.append(
            {
                "id": rev.id,
                "version": rev.version,
                "action": rev.action,
                "action_name": name,
                "actor": rev.actor,
                "actor_name": names.get(rev.actor, rev.actor),
                "at": as_utc(rev.created_at).isoformat(),
                "restored_from": rev.restored_from,
                "proposal_id": rev.proposal_id,
                "proposed_by": proposer,
                "snapshot": rev.snapshot,
                "diff": revision_diff(older, rev.snapshot),
            }
        )
    return items


@dataclass(frozen=True)
class AuditFilter:
    """What the audit log is narrowed to; every part optional. Dates are days in China time, inclusive."""

    actor: str | None = None
    faq_id: int | None = None
    action: str | None = None  # a group of ACTION_GROUPS or one code of AUDIT_ACTIONS
    since: date | None = None
    until: date | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=CHINA_TIME).astimezone(timezone.utc)


def audit_events(session: Session, *, where: AuditFilter, limit: int = MAX_EVENTS) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if where.actor:
        stmt = stmt.where(AuditEvent.actor == where.actor.replace(NUL, ""))
    if where.faq_id is not None:
        # the entry's own lines ("faq:21") and the lines about its proposals ("faq:21 v3" in the detail)
        own = AuditEvent.target == f"faq:{where.faq_id}"
        about = AuditEvent.target.like("proposal:%") & (
            AuditEvent.detail.like(f"faq:{where.faq_id} %") | (AuditEvent.detail == f"faq:{where.faq_id}")
        )
        stmt = stmt.where(or_(own, about))
    if where.action in ACTION_GROUPS:
        stmt = stmt.where(AuditEvent.action.like(ACTION_GROUPS[where.action][1] + "%"))
    elif where.action:
        stmt = stmt.where(AuditEvent.action == where.action.replace(NUL, ""))
    if where.since:
        stmt = stmt.where(AuditEvent.at >= _day_start(where.since))
    if where.until:
        stmt = stmt.where(AuditEvent.at < _day_start(where.until + timedelta(days=1)))
    return list(session.scalars(stmt))


def describe_event(event: AuditEvent, names: dict[str, str]) -> dict[str, Any]:
    """One audit line in plain Chinese, with the entry, version and proposal it is about (for links)."""
    kind, _, ident = (event.target or "").partition(":")
    detail = event.detail or ""
    faq_id = int(ident) if kind == "faq" and ident.isdigit() else None
    faq_in_detail = _FAQ.search(detail)
    if faq_id is None and faq_in_detail:
        faq_id = int(faq_in_detail.group(1))
    proposal = _PROPOSAL.search(detail)
    proposal_id = int(proposal.group(1)) if proposal else None
    if kind == "proposal" and ident.isdigit():
        proposal_id = int(ident)
    version = _VERSION.search(detail)
    restored = _FROM.search(detail)
    summary = _detail_text(event.action, detail, version, restored, proposal_id)
    target_name = f"{TARGET_KINDS.get(kind, kind)} {'#' if ident.isdigit() else ''}{ident}" if event.target else ""
    if kind == "user":
        target_name = f"用户 {names.get(ident, ident)}"
    return {
        "at": as_utc(event.at).isoformat(),
        "actor": event.actor,
        "actor_name": names.get(event.actor, event.actor),
        "action": event.action,
        "action_name": AUDIT_ACTIONS.get(event.action, event.action),
        "target": event.target,
        "target_name": target_name,
        "detail": detail,
        "summary": summary,
        "faq_id": faq_id,
        "version": int(version.group(1)) if version and kind in ("faq", "proposal") else None,
        "proposal_id": proposal_id,
    }


def _detail_text(
    action: str, detail: str, version: re.Match | None, restored: re.Match | None, proposal_id: int | None
) -> str:
    if action.startswith("faq.") and action != "faq.import" and version:
        text = f"版本 {version.group(1)}"
        if restored:
            text += f"（恢复为版本 {restored.group(1)} 的内容）"
        if proposal_id is not None and action == "faq.approve":
            text += f"（修改提议 #{proposal_id}）"
        return text
    if action == "faq.import":
        counts = dict(part.split("=", 1) for part in detail.split() if "=" in part)
        return "，".join(f"{label} {counts[key]} 条" for key, label in _IMPORT_COUNTS.items() if key in counts)
    if action == "proposal.create" and version:
        text = f"基于版本 {version.group(1)}"
        return text + (f"，提议恢复为版本 {restored.group(1)}" if restored else "")
    if action == "proposal.approve" and version:
        return f"已发布为版本 {version.group(1)}"
    if action == "proposal.reject":
        reason = _FAQ.sub("", detail).strip()
        return f"理由：{reason}" if reason else ""
    if action == "user.role" and "->" in detail:
        old, new = detail.split("->", 1)
        return f"{ROLE_NAMES.get(old, old)} → {ROLE_NAMES.get(new, new)}"
    if action == "user.create":
        return f"角色：{ROLE_NAMES.get(detail, detail)}" if detail else ""
    if action == "login.locked":
        match = re.match(r"(\d+) addresses", detail)
        return f"来自 {match.group(1)} 个不同地址的失败登录" if match else detail
    return detail


def describe_events(session: Session, events: list[AuditEvent]) -> list[dict[str, Any]]:
    names = display_names(session)
    return [describe_event(event, names) for event in events]


def parse_day(value: str | None) -> date | None:
    """A YYYY-MM-DD day, or None; ValueError with a Chinese message when it is not one."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"日期格式不正确：“{value[:20]}”，应为 YYYY-MM-DD，如 2026-12-05。") from None


def revision_of(session: Session, *, entry_id: int, version: int) -> FaqRevision | None:
    return session.scalar(
        select(FaqRevision)
        .where(FaqRevision.faq_id == entry_id, FaqRevision.version == version)
        .order_by(FaqRevision.id.desc())
        .limit(1)
    )
