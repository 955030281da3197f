"""What staff can do to the knowledge base: accounts, tokens, and FAQ changes.

Plain functions taking a Session; every change to an entry is checked against
the version it was based on, kept as a revision, and written to the audit log.
Messages are in Chinese because staff read them.
"""

from __future__ import annotations

import difflib
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from knowledge.models import (
    AnswerFeedback,
    AuditEvent,
    Clause,
    FaqEntry,
    FaqRevision,
    StaffToken,
    StaffUser,
    utcnow,
)
from knowledge.topics import TOPICS

ROLES = {"editor": 1, "reviewer": 2, "admin": 3}
ROLE_NAMES = {"editor": "编辑", "reviewer": "审核员", "admin": "管理员"}
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
TOKEN_TTL = {"api": timedelta(hours=8), "session": timedelta(hours=8)}
LIMITS = {"question": 300, "answer": 4000, "alternative": 200, "alternatives": 30}
MAX_ID = 2**31 - 1  # the largest id a row can have (PostgreSQL INTEGER); larger ones would fail in the query
NUL = "\x00"  # PostgreSQL refuses it in any text value, so it never reaches a query

_hasher = PasswordHasher()  # Argon2id with argon2-cffi's recommended parameters


class StaffError(Exception):
    """An error a staff member caused; ``code`` for programs, ``message`` in Chinese."""

    status = 400

    def __init__(self, code: str, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


class NotFound(StaffError):
    status = 404


class Forbidden(StaffError):
    status = 403


class Unauthorized(StaffError):
    status = 401


class Conflict(StaffError):
    """The entry changed since the version the staff member started from."""

    status = 409

    def __init__(self, current: dict[str, Any]) -> None:
        super().__init__(
            "version_conflict",
            f"该条目已被他人修改（当前版本 {current['version']}），您的修改没有保存。请查看最新内容后再修改。",
            details=current,
        )


class Invalid(StaffError):
    status = 422


# -- accounts -------------------------------------------------------------------


def password_problem(username: str, password: str) -> str | None:
    """Why a password is too weak, in Chinese, or None."""
    if len(password) < 10:
        return "密码太短：至少需要10个字符。"
    classes = sum(
        any(test(c) for c in password) for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    if classes < 3:
        return "密码太简单：请同时使用大写字母、小写字母、数字和符号中的至少三种。"
    if username and username.lower() in password.lower():
        return "密码不能包含用户名。"
    if len(set(password)) < 5:
        return "密码重复字符太多，请换一个。"
    return None


def create_user(session: Session, *, username: str, password: str, role: str, actor: str) -> StaffUser:
    username = username.strip()
    if not username or len(username) > 64:
        raise Invalid("invalid_username", "用户名不能为空，且不超过64个字符。")
    if NUL in username:
        raise Invalid("invalid_username", "用户名不能包含空字符（U+0000）。")
    if role not in ROLES:
        raise Invalid("invalid_role", f"角色必须是 {'、'.join(ROLES)} 之一。")
    problem = password_problem(username, password)
    if problem:
        raise Invalid("weak_password", problem)
    if session.scalar(select(StaffUser).where(StaffUser.username == username)):
        raise StaffError("user_exists", f"用户名“{username}”已存在。")
    user = StaffUser(username=username, password_hash=_hasher.hash(password), role=role)
    session.add(user)
    audit(session, actor=actor, action="user.create", target=f"user:{username}", detail=role)
    return user


def set_user_disabled(session: Session, *, username: str, disabled: bool, actor: str) -> StaffUser:
    user = None if NUL in username else session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None:
        raise NotFound("user_not_found", f"没有用户“{username}”。")
    user.disabled = disabled
    if disabled:
        session.query(StaffToken).filter(StaffToken.user_id == user.id).delete()
    audit(session, actor=actor, action="user.disable" if disabled else "user.enable", target=f"user:{username}")
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(StaffUser)) or 0


def authenticate(session: Session, *, username: str, password: str) -> StaffUser:
    """The user, or Unauthorized with a Chinese message; repeated failures lock the account."""
    now = utcnow()
    user = None if NUL in username else session.scalar(select(StaffUser).where(StaffUser.username == username.strip()))
    if user is not None and user.locked_until is not None and as_utc(user.locked_until) > now:
        minutes = max(1, int((as_utc(user.locked_until) - now).total_seconds() // 60) + 1)
        raise Unauthorized("locked", f"登录失败次数过多，账号已临时锁定，请{minutes}分钟后再试。")
    try:
        ok = user is not None and _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if user is None:
        _hasher.hash(password)  # same work as a real check: no timing hint that the user exists
    if not ok or user is None or user.disabled:
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until, user.failed_logins = now + LOCKOUT, 0
            audit(session, actor=user.username, action="login.failed")
        raise Unauthorized("bad_credentials", "用户名或密码错误，或账号已停用。")
    user.failed_logins, user.locked_until = 0, None
    audit(session, actor=user.username, action="login")
    return user


def log_in(make_session: sessionmaker[Session], *, username: str, password: str, kind: str) -> tuple[str, str]:
    """Check the password and issue a token of ``kind``: (token, role).

    Runs in its own transaction so that a failure is counted (and may lock the
    account) even though Unauthorized is raised. Argon2 is slow on purpose: call
    it off the event loop.
    """
    with make_session() as session:
        try:
            user = authenticate(session, username=username, password=password)
        except Unauthorized:
            session.commit()  # keep the failure count and any lock
            raise
        token, _ = issue_token(session, user=user, kind=kind)
        session.commit()
        return token, user.role


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, *, user: StaffUser, kind: str) -> tuple[str, str]:
    """A new (token, csrf token); only the token's hash is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        StaffToken(
            token_hash=_digest(token),
            kind=kind,
            user_id=user.id,
            csrf_token=csrf,
            expires_at=utcnow() + TOKEN_TTL[kind],
        )
    )
    return token, csrf


def resolve_token(session: Session, *, token: str, kind: str) -> StaffToken | None:
    found = session.scalar(select(StaffToken).where(StaffToken.token_hash == _digest(token), StaffToken.kind == kind))
    if found is None or as_utc(found.expires_at) <= utcnow() or found.user.disabled:
        return None
    return found


def revoke_token(session: Session, *, token: str) -> None:
    session.query(StaffToken).filter(StaffToken.token_hash == _digest(token)).delete()


def require_role(user: StaffUser, role: str) -> None:
    if ROLES[user.role] < ROLES[role]:
        raise Forbidden("forbidden", f"权限不足：此操作需要{ROLE_NAMES[role]}及以上角色。")


def audit(session: Session, *, actor: str, action: str, target: str = "", detail: str = "") -> None:
    session.add(AuditEvent(actor=actor, action=action, target=target, detail=detail[:2000]))


# -- FAQ entries ------------------------------------------------------------------


@dataclass
class FaqInput:
    topic: str
    question: str
    answer: str
    source: str
    alternatives: list[str] = field(default_factory=list)

    @classmethod
    def from_mapping(cls, data: Any) -> FaqInput:
        """Validate what staff sent; Invalid lists every problem in Chinese."""
        if not isinstance(data, dict):
            raise Invalid("invalid_body", "请求内容必须是一个 JSON 对象。")
        errors: dict[str, str] = {}
        topic = data.get("topic")
        if not isinstance(topic, str) or topic not in TOPICS:  # a list or an object is not hashable
            errors["topic"] = f"主题必须是 {'、'.join(TOPICS)} 之一。"
        texts = {}
        for name in ("question", "answer", "source"):
            value = data.get(name)
            label = {"question": "问题", "answer": "答复", "source": "依据条款"}[name]
            if not isinstance(value, str) or not value.strip():
                errors[name] = label + "不能为空。"
            elif name in LIMITS and len(value) > LIMITS[name]:
                errors[name] = f"内容太长：最多{LIMITS[name]}个字符。"
            elif NUL in value:
                errors[name] = label + "不能包含空字符（U+0000）。"
            else:
                texts[name] = value.strip()
        alternatives = data.get("alternatives") or []
        if isinstance(alternatives, str):
            alternatives = [line for line in alternatives.splitlines()]
        if not isinstance(alternatives, list) or not all(isinstance(a, str) for a in alternatives):
            errors["alternatives"] = "其他问法必须是文字列表。"
            alternatives = []
        alternatives = [a.strip() for a in alternatives if a.strip()]
        if len(alternatives) > LIMITS["alternatives"] or any(len(a) > LIMITS["alternative"] for a in alternatives):
            errors["alternatives"] = f"其他问法最多{LIMITS['alternatives']}条，每条最多{LIMITS['alternative']}个字符。"
        elif any(NUL in a for a in alternatives):
            errors["alternatives"] = "其他问法不能包含空字符（U+0000）。"
        if errors:
            raise Invalid("invalid_entry", "；".join(errors.values()), details=errors)
        return cls(topic=topic, alternatives=alternatives, **texts)


def clause_for_ref(session: Session, ref: str) -> Clause:
    stmt = select(Clause).options(joinedload(Clause.document)).where(Clause.ref == ref.strip())
    clause = None if NUL in ref else session.scalar(stmt)
    if clause is None:
        raise Invalid(
            "unknown_source",
            f"找不到依据条款“{ref}”。请填写如“第9条”“主要目标”或“2022报告·民生保障”。",
            details={"source": "unknown"},
        )
    return clause


def entry_dict(entry: FaqEntry, clause: Clause | None = None) -> dict[str, Any]:
    clause = clause or entry.clause
    return {
        "id": entry.id,
        "topic": entry.topic,
        "question": entry.question,
        "alternatives": list(entry.alternatives or []),
        "answer": entry.answer,
        "source": clause.ref,
        "status": entry.status,
        "deleted": entry.deleted_at is not None,
        "version": entry.version,
        "updated_at": as_utc(entry.updated_at).isoformat(),
        "updated_by": entry.updated_by,
    }


def snapshot(entry: FaqEntry, clause: Clause) -> dict[str, Any]:
    return {k: v for k, v in entry_dict(entry, clause).items() if k not in ("id", "updated_at", "updated_by")}


def get_entry(session: Session, *, entry_id: int) -> FaqEntry:
    entry = session.scalar(
        select(FaqEntry).options(joinedload(FaqEntry.clause).joinedload(Clause.document)).where(FaqEntry.id == entry_id)
    )
    if entry is None:
        raise NotFound("not_found", f"没有编号为 {entry_id} 的条目。")
    return entry


def list_entries(
    session: Session,
    *,
    topic: str | None = None,
    status: str | None = None,
    q: str | None = None,
    deleted: bool = False,
    limit: int = 500,
    offset: int = 0,
) -> list[FaqEntry]:
    stmt = select(FaqEntry).options(joinedload(FaqEntry.clause)).order_by(FaqEntry.topic, FaqEntry.id)
    stmt = stmt.where(FaqEntry.deleted_at.is_not(None) if deleted else FaqEntry.deleted_at.is_(None))
    if topic:
        stmt = stmt.where(FaqEntry.topic == topic)
    if status:
        stmt = stmt.where(FaqEntry.status == status)
    for word in (q or "").replace(NUL, " ").split():
        like = f"%{word}%"
        alternatives = cast(FaqEntry.alternatives, String)  # JSON list as text: good enough to search
        stmt = stmt.where(or_(FaqEntry.question.like(like), FaqEntry.answer.like(like), alternatives.like(like)))
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def _record(session: Session, entry: FaqEntry, clause: Clause, *, action: str, actor: str) -> None:
    session.flush()
    session.add(
        FaqRevision(
            faq_id=entry.id, version=entry.version, action=action, snapshot=snapshot(entry, clause), actor=actor
        )
    )
    audit(session, actor=actor, action=f"faq.{action}", target=f"faq:{entry.id}", detail=f"v{entry.version}")


def _check_version(entry: FaqEntry, expected_version: Any) -> None:
    if not isinstance(expected_version, int) or isinstance(expected_version, bool):
        raise Invalid("version_required", "请提供修改所基于的版本号 version（整数）。")
    if expected_version != entry.version:
        raise Conflict(entry_dict(entry))


def create_entry(session: Session, *, data: FaqInput, user: StaffUser, publish: bool = False) -> FaqEntry:
    require_role(user, "reviewer" if publish else "editor")
    clause = clause_for_ref(session, data.source)
    entry = FaqEntry(
        topic=data.topic,
        question=data.question,
        alternatives=data.alternatives,
        answer=data.answer,
        clause=clause,
        status="published" if publish else "draft",
        updated_by=user.username,
    )
    session.add(entry)
    _record(session, entry, clause, action="create", actor=user.username)
    return entry


def update_entry(
    session: Session, *, entry_id: int, data: FaqInput, expected_version: Any, user: StaffUser
) -> FaqEntry:
    entry = get_entry(session, entry_id=entry_id)
    _check_version(entry, expected_version)
    if entry.status == "published":
        require_role(user, "reviewer")  # a live answer is changed only by a reviewer
    else:
        require_role(user, "editor")
    clause = clause_for_ref(session, data.source)
    entry.topic, entry.question, entry.alternatives = data.topic, data.question, data.alternatives
    entry.answer, entry.clause = data.answer, clause
    entry.updated_by, entry.updated_at = user.username, utcnow()
    _record(session, entry, clause, action="update", actor=user.username)
    return entry


def set_status(session: Session, *, entry_id: int, status: str, expected_version: Any, user: StaffUser) -> FaqEntry:
    require_role(user, "reviewer")
    if status not in ("draft", "published"):
        raise Invalid("invalid_status", "状态必须是 draft（草稿）或 published（已发布）。")
    entry = get_entry(session, entry_id=entry_id)
    _check_version(entry, expected_version)
    if entry.deleted_at is not None:
        raise StaffError("deleted", "该条目已删除，请先恢复。")
    entry.status, entry.updated_by, entry.updated_at = status, user.username, utcnow()
    _record(
        session, entry, entry.clause, action="publish" if status == "published" else "unpublish", actor=user.username
    )
    return entry


def delete_entry(
    session: Session, *, entry_id: int, expected_version: Any, user: StaffUser, restore: bool = False
) -> FaqEntry:
    entry = get_entry(session, entry_id=entry_id)
    _check_version(entry, expected_version)
    require_role(user, "reviewer" if entry.status == "published" else "editor")
    entry.deleted_at = None if restore else utcnow()
    entry.updated_by, entry.updated_at = user.username, utcnow()
    _record(session, entry, entry.clause, action="restore" if restore else "delete", actor=user.username)
    return entry


def revisions(session: Session, *, entry_id: int) -> list[FaqRevision]:
    get_entry(session, entry_id=entry_id)
    stmt = select(FaqRevision).where(FaqRevision.faq_id == entry_id).order_by(FaqRevision.id.desc())
    return list(session.scalars(stmt))


def revision_diff(older: dict[str, Any] | None, newer: dict[str, Any]) -> list[str]:
    """A readable line diff of two snapshots."""

    def lines(snap: dict[str, Any] | None) -> list[str]:
        if not snap:
            return []
        alternatives = "、".join(snap.get("alternatives") or [])
        return [
            f"主题：{snap.get('topic')}",
            f"问题：{snap.get('question')}",
            f"其他问法：{alternatives}",
            f"答复：{snap.get('answer')}",
            f"依据：{snap.get('source')}",
            f"状态：{snap.get('status')}",
        ]

    return list(difflib.unified_diff(lines(older), lines(newer), lineterm="", n=0))[2:]


def restore_revision(
    session: Session, *, entry_id: int, revision_id: int, expected_version: Any, user: StaffUser
) -> FaqEntry:
    revision = session.get(FaqRevision, revision_id)
    if revision is None or revision.faq_id != entry_id:
        raise NotFound("revision_not_found", "没有这个历史版本。")
    snap = revision.snapshot
    data = FaqInput.from_mapping({k: snap.get(k) for k in ("topic", "question", "answer", "source", "alternatives")})
    return update_entry(session, entry_id=entry_id, data=data, expected_version=expected_version, user=user)


# -- resident feedback ------------------------------------------------------------


def is_id(value: Any) -> bool:
    """An integer that can be a row's id (True is not 1; 10**30 would overflow the database's integer)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def record_feedback(session: Session, *, faq_id: Any, rating: Any) -> None:
    if rating not in ("up", "down"):
        raise Invalid("invalid_rating", "rating 必须是 up 或 down。")
    if not is_id(faq_id) or session.get(FaqEntry, faq_id) is None:
        raise NotFound("not_found", "没有这个答复条目。")
    session.add(AnswerFeedback(faq_id=faq_id, rating=1 if rating == "up" else -1))


def feedback_summary(session: Session) -> list[dict[str, Any]]:
    """Per entry: 👍 and 👎 counts, entries with the worst ratio first."""
    rows = session.execute(
        select(
            AnswerFeedback.faq_id,
            func.count().filter(AnswerFeedback.rating > 0),
            func.count().filter(AnswerFeedback.rating < 0),
        ).group_by(AnswerFeedback.faq_id)
    ).all()
    summary = []
    for faq_id, ups, downs in rows:
        entry = session.get(FaqEntry, faq_id)
        summary.append({"faq_id": faq_id, "question": entry.question if entry else "", "up": ups, "down": downs})
    return sorted(summary, key=lambda r: (-(r["down"] / (r["up"] + r["down"])), -r["down"]))
