"""What staff can do to the knowledge base: accounts, tokens, and FAQ changes.

Plain functions taking a Session; every change to an entry is checked against
the version it was based on, kept as a revision, and written to the audit log.
Every save and every publication is checked against the grounding rule
(``knowledge.grounding``): residents never get a figure the cited clause lacks,
an empty answer or a placeholder. Messages are in Chinese because staff read them.

Changes to a published entry by someone who may not change it directly become
proposals (``knowledge.proposals``); role changes and passwords are in
``knowledge.accounts``, resident feedback in ``knowledge.feedback``; the errors are
``knowledge.errors`` (re-exported here).
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import String, case, cast, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from knowledge.errors import Conflict, Forbidden, Invalid, NotFound, StaffError, Unauthorized
from knowledge.models import (
    AuditEvent,
    Clause,
    FaqEntry,
    FaqRevision,
    LoginFailure,
    StaffToken,
    StaffUser,
    utcnow,
)
from knowledge.publishing import check_content, check_four_eyes, content_author, may_change_live
from knowledge.roles import ROLE_NAMES, ROLES, require_role  # noqa: F401  (ROLE_NAMES: callers find it here)
from knowledge.topics import TOPICS

log = logging.getLogger(__name__)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
TOKEN_TTL = {"api": timedelta(hours=8), "session": timedelta(hours=8)}
LIMITS = {"question": 300, "answer": 4000, "alternative": 200, "alternatives": 30}
MAX_ID = 2**31 - 1  # the largest id a row can have (PostgreSQL INTEGER); larger ones would fail in the query
MAX_SEARCH_CHARS, MAX_SEARCH_TERMS = 200, 20  # a longer search is cut to these (search_terms)
NUL = "\x00"  # PostgreSQL refuses it in any text value, so it never reaches a query

_hasher = PasswordHasher()  # Argon2id with argon2-cffi's recommended parameters


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


# -- logging in ---------------------------------------------------------------------
#
# Policy (docs/SECURITY.md, "Staff login"):
# - Every attempt costs one Argon2 verification, whether the name is a real account, an unknown
#   one (checked against dummy_hash()), a disabled or locked account, or blocked from this address.
#   Wrong password, unknown name, disabled account and locked account get one and the same answer,
#   and are counted alike (the statements differ only by one audit row for a real account).
# - Failures are counted per (name as typed, client address), atomically (INSERT … ON CONFLICT DO
#   UPDATE … RETURNING). After FREE_ATTEMPTS failures that address must wait before it may try that
#   name again: 1 minute, then 2, 4, 8 … up to BACKOFF_MAX for each further failure. Meanwhile the
#   real user, from any other address, logs in as usual; a success clears only its own address.
#   An address's count is forgotten FORGET_AFTER after its last failure. Unknown names are counted
#   the same way, so the "wait" answer shows nothing about which accounts exist.
# - The account's own counter (staff_users.failed_logins, one atomic UPDATE … RETURNING) is the
#   safety net against many addresses guessing one password: ACCOUNT_MAX_FAILURES failures since
#   the last success, from at least ACCOUNT_MIN_ADDRESSES addresses, lock the account for LOCKOUT.
#   One address alone can never trigger it.

FREE_ATTEMPTS = MAX_FAILED_LOGINS  # failures per name and address before that address has to wait
BACKOFF_FIRST = timedelta(minutes=1)  # after the 5th failure; doubled for each further one
BACKOFF_MAX = timedelta(hours=1)
FORGET_AFTER = timedelta(hours=24)  # an address's failures are forgotten a day after its last one
ACCOUNT_MAX_FAILURES = 50
ACCOUNT_MIN_ADDRESSES = 5
BAD_CREDENTIALS = "用户名或密码错误，或账号已停用、暂时不可用。如确认无误，请稍后再试或联系管理员。"


@cache
def dummy_hash() -> str:
    """An Argon2 hash with our parameters, of a password nobody knows: unknown names are checked against it."""
    return _hasher.hash(secrets.token_urlsafe(32))


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def login_key(username: str, address: str) -> tuple[str, str]:
    """(name, address) as counted: the name as typed (at most 64 characters), an IPv6 address as its /64.

    Whoever holds one IPv6 address usually holds its whole /64, so the /64 counts as one address.
    """
    name = username.strip().replace(NUL, "?")[:64]
    address = (address or "unknown").replace(NUL, "?")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return name, address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:203.0.113.7 is 203.0.113.7
            return name, str(ip.ipv4_mapped)
        return name, str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return name, str(ip)


def backoff(failures: int) -> timedelta:
    """How long an address waits after its ``failures``-th failure for one name (none before FREE_ATTEMPTS)."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(failures - FREE_ATTEMPTS, 20))


def _count_failure(session: Session, *, key: tuple[str, str], now: datetime) -> int:
    """One more failure for (name, address), atomically; the address's new count (and its wait set)."""
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    table = LoginFailure.__table__
    stale = table.c.last_failed_at < now - FORGET_AFTER
    stmt = (
        insert(table)
        .values(username=key[0], address=key[1], failures=1, blocked_until=None, last_failed_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.username, table.c.address],
            set_={
                "failures": case((stale, 1), else_=table.c.failures + 1),
                "last_failed_at": now,
            },
        )
        .returning(table.c.failures)
    )
    failures = session.execute(stmt).scalar_one()
    wait = backoff(failures)
    if wait:
        session.execute(
            update(table).where(table.c.username == key[0], table.c.address == key[1]).values(blocked_until=now + wait)
        )
    return failures


def _count_account_failure(session: Session, *, name: str, now: datetime) -> None:
    """One more failure for the account called ``name`` and the many-addresses safety net.

    One atomic UPDATE … RETURNING, run for unknown names too (where it changes nothing), so that
    a real and an unknown name cost the same statements.
    """
    if NUL in name:
        return  # no account has one, and PostgreSQL refuses it in a query
    failures = session.execute(
        update(StaffUser)
        .where(StaffUser.username == name)
        .values(failed_logins=StaffUser.failed_logins + 1)
        .returning(StaffUser.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if failures is None:
        return
    if failures >= ACCOUNT_MAX_FAILURES:
        addresses = session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.username == name, LoginFailure.last_failed_at >= now - FORGET_AFTER)
        )
        if (addresses or 0) >= ACCOUNT_MIN_ADDRESSES:
            session.execute(
                update(StaffUser)
                .where(StaffUser.username == name)
                .values(locked_until=now + LOCKOUT, failed_logins=0)
                .execution_options(synchronize_session=False)
            )
            audit(session, actor=name, action="login.locked", detail=f"{addresses} addresses")
    audit(session, actor=name, action="login.failed")


def authenticate(session: Session, *, username: str, password: str, address: str = "unknown") -> StaffUser:
    """The user, or Unauthorized with a Chinese message (policy above); ``address`` is the client's."""
    now = utcnow()
    name, key = username.strip(), login_key(username, address)
    user = None if NUL in name else session.scalar(select(StaffUser).where(StaffUser.username == name))
    counted = session.get(LoginFailure, key)
    # The one Argon2 verification of every attempt, whatever happens next.
    matches = password_matches(user.password_hash if user is not None else dummy_hash(), password)
    blocked_until = as_utc(counted.blocked_until) if counted and counted.blocked_until else None
    if blocked_until is not None and blocked_until > now:
        minutes = max(1, int((blocked_until - now).total_seconds() // 60) + 1)
        raise Unauthorized("locked", f"登录失败次数过多，该用户名已在您当前的网络上临时锁定，请{minutes}分钟后再试。")
    locked = user is not None and user.locked_until is not None and as_utc(user.locked_until) > now
    if user is None or not matches or user.disabled or locked:
        # Whatever the reason, the same counting and the same answer: none of them tells which it was.
        _count_failure(session, key=key, now=now)
        _count_account_failure(session, name=name, now=now)
        raise Unauthorized("bad_credentials", BAD_CREDENTIALS)
    session.execute(delete(LoginFailure).where(LoginFailure.username == key[0], LoginFailure.address == key[1]))
    user.failed_logins, user.locked_until = 0, None
    audit(session, actor=user.username, action="login")
    return user


def forget_old_failures(make_session: sessionmaker[Session]) -> None:
    """Drop counts of addresses whose last failure is older than FORGET_AFTER (their own transaction)."""
    try:
        with make_session() as session, session.begin():
            session.execute(delete(LoginFailure).where(LoginFailure.last_failed_at < utcnow() - FORGET_AFTER))
    except SQLAlchemyError as exc:  # housekeeping only: the next failure tries again
        log.warning("could not forget old login failures: %s", exc)


def log_in(
    make_session: sessionmaker[Session], *, username: str, password: str, kind: str, address: str = "unknown"
) -> tuple[str, str]:
    """Check the password and issue a token of ``kind``: (token, role).

    ``address`` is the client's address (for the per-address back-off). Runs in its own
    transaction so that a failure is counted even though Unauthorized is raised. Argon2 is slow
    on purpose: call it off the event loop.
    """
    with make_session() as session:
        try:
            user = authenticate(session, username=username, password=password, address=address)
        except Unauthorized:
            session.commit()  # keep the failure counts and any lock
            forget_old_failures(make_session)
            raise
        token, _ = issue_token(session, user=user, kind=kind)
        session.commit()
        return token, user.role


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (slow on purpose: off the event loop)."""
    return _hasher.hash(password)


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, *, user: StaffUser, kind: str) -> tuple[str, str]:
    """A new (token, csrf token); only the token's hash is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        StaffToken(
            token_hash=token_digest(token),
            kind=kind,
            user_id=user.id,
            csrf_token=csrf,
            expires_at=utcnow() + TOKEN_TTL[kind],
        )
    )
    return token, csrf


def resolve_token(session: Session, *, token: str, kind: str) -> StaffToken | None:
    found = session.scalar(
        select(StaffToken).where(StaffToken.token_hash == token_digest(token), StaffToken.kind == kind)
    )
    if found is None or as_utc(found.expires_at) <= utcnow() or found.user.disabled:
        return None
    return found


def revoke_token(session: Session, *, token: str) -> None:
    session.query(StaffToken).filter(StaffToken.token_hash == token_digest(token)).delete()


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
        "review_by": entry.review_by,  # knowledge.review_dates: not content, not in revisions
        "reviewed_at": as_utc(entry.reviewed_at).isoformat() if entry.reviewed_at else None,
    }


NOT_IN_SNAPSHOT = ("id", "updated_at", "updated_by", "review_by", "reviewed_at")


def snapshot(entry: FaqEntry, clause: Clause) -> dict[str, Any]:
    return {k: v for k, v in entry_dict(entry, clause).items() if k not in NOT_IN_SNAPSHOT}


def get_entry(session: Session, *, entry_id: int) -> FaqEntry:
    entry = session.scalar(
        select(FaqEntry).options(joinedload(FaqEntry.clause).joinedload(Clause.document)).where(FaqEntry.id == entry_id)
    )
    if entry is None:
        raise NotFound("not_found", f"没有编号为 {entry_id} 的条目。")
    return entry


def search_terms(q: str | None) -> list[str]:
    """The words a staff search looks for: the first MAX_SEARCH_TERMS distinct ones of its first MAX_SEARCH_CHARS.

    Each word adds three LIKE conditions; SQLite refuses a query of a few hundred words
    ("Expression tree is too large") and no useful search needs more than a handful.
    """
    words = (q or "")[:MAX_SEARCH_CHARS].replace(NUL, " ").split()
    return list(dict.fromkeys(words))[:MAX_SEARCH_TERMS]


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
    for word in search_terms(q):
        like = f"%{word}%"
        alternatives = cast(FaqEntry.alternatives, String)  # JSON list as text: good enough to search
        stmt = stmt.where(or_(FaqEntry.question.like(like), FaqEntry.answer.like(like), alternatives.like(like)))
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def record_revision(
    session: Session,
    entry: FaqEntry,
    clause: Clause,
    *,
    action: str,
    actor: str,
    restored_from: int | None = None,
    proposal_id: int | None = None,
) -> None:
    session.flush()
    session.add(
        FaqRevision(
            faq_id=entry.id,
            version=entry.version,
            action=action,
            snapshot=snapshot(entry, clause),
            actor=actor,
            restored_from=restored_from,
            proposal_id=proposal_id,
        )
    )
    detail = f"v{entry.version}"
    if restored_from is not None:
        detail += f" from v{restored_from}"
    if proposal_id is not None:
        detail += f" proposal {proposal_id}"
    audit(session, actor=actor, action=f"faq.{action}", target=f"faq:{entry.id}", detail=detail)


def check_version(entry: FaqEntry, expected_version: Any) -> None:
    """Conflict unless ``expected_version`` is the entry's current version."""
    if not isinstance(expected_version, int) or isinstance(expected_version, bool):
        raise Invalid("version_required", "请提供修改所基于的版本号 version（整数）。")
    if expected_version != entry.version:
        raise Conflict(entry_dict(entry))


def create_entry(
    session: Session, *, data: FaqInput, user: StaffUser, publish: bool = False, unfinished: bool = False
) -> FaqEntry:
    require_role(user, "reviewer" if publish else "editor")
    clause = clause_for_ref(session, data.source)
    check_content(question=data.question, answer=data.answer, clause=clause, unfinished=unfinished and not publish)
    if publish:
        check_four_eyes(author=user.username, user=user, what="发布")
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
    record_revision(session, entry, clause, action="create", actor=user.username)
    return entry


def update_entry(
    session: Session,
    *,
    entry_id: int,
    data: FaqInput,
    expected_version: Any,
    user: StaffUser,
    restored_from: int | None = None,
) -> FaqEntry:
    """Change an entry's content directly. A published one only by whom ``may_change_live`` allows;
    for everyone else ``knowledge.proposals.save_entry`` turns the change into a proposal."""
    entry = get_entry(session, entry_id=entry_id)
    check_version(entry, expected_version)
    if entry.status == "published":
        require_role(user, "reviewer")  # a live answer is changed only by a reviewer
        if not may_change_live(user):
            raise Forbidden(
                "proposal_required",
                "四眼原则：已发布条目的修改须作为修改提议提交，由另一位审核员批准后生效。",
            )
    else:
        require_role(user, "editor")
    clause = clause_for_ref(session, data.source)
    check_content(question=data.question, answer=data.answer, clause=clause)
    apply_content(entry, data, clause, actor=user.username)
    action = "update" if restored_from is None else "restore_version"
    record_revision(session, entry, clause, action=action, actor=user.username, restored_from=restored_from)
    return entry


def apply_content(entry: FaqEntry, data: FaqInput, clause: Clause, *, actor: str) -> None:
    """Write ``data`` into the entry (no checks: the callers check role, version and content)."""
    entry.topic, entry.question, entry.alternatives = data.topic, data.question, data.alternatives
    entry.answer, entry.clause = data.answer, clause
    entry.updated_by, entry.updated_at = actor, utcnow()


def set_status(session: Session, *, entry_id: int, status: str, expected_version: Any, user: StaffUser) -> FaqEntry:
    require_role(user, "reviewer")
    if status not in ("draft", "published"):
        raise Invalid("invalid_status", "状态必须是 draft（草稿）或 published（已发布）。")
    entry = get_entry(session, entry_id=entry_id)
    check_version(entry, expected_version)
    if entry.deleted_at is not None:
        raise StaffError("deleted", "该条目已删除，请先恢复。")
    if status == "published" and entry.status != "published":
        check_content(question=entry.question, answer=entry.answer, clause=entry.clause)
        check_four_eyes(author=content_author(session, entry), user=user, what="发布")
    entry.status, entry.updated_by, entry.updated_at = status, user.username, utcnow()
    record_revision(
        session, entry, entry.clause, action="publish" if status == "published" else "unpublish", actor=user.username
    )
    return entry


def delete_entry(
    session: Session, *, entry_id: int, expected_version: Any, user: StaffUser, restore: bool = False
) -> FaqEntry:
    entry = get_entry(session, entry_id=entry_id)
    check_version(entry, expected_version)
    require_role(user, "reviewer" if entry.status == "published" else "editor")
    entry.deleted_at = None if restore else utcnow()
    entry.updated_by, entry.updated_at = user.username, utcnow()
    record_revision(session, entry, entry.clause, action="restore" if restore else "delete", actor=user.username)
    return entry


def revisions(session: Session, *, entry_id: int) -> list[FaqRevision]:
    get_entry(session, entry_id=entry_id)
    stmt = select(FaqRevision).where(FaqRevision.faq_id == entry_id).order_by(FaqRevision.id.desc())
    return list(session.scalars(stmt))


STATUS_NAMES = {"draft": "草稿", "published": "已发布"}


def snapshot_lines(snap: dict[str, Any] | None) -> list[str]:
    """An entry's content as staff read it, one line per field, in plain Chinese."""
    if not snap:
        return []
    alternatives = "、".join(snap.get("alternatives") or [])
    lines = [
        f"主题：{TOPICS.get(snap.get('topic') or '', snap.get('topic'))}",
        f"问题：{snap.get('question')}",
        f"其他问法：{alternatives}",
        f"答复：{snap.get('answer')}",
        f"依据：{snap.get('source')}",
    ]
    if "status" in snap:
        lines.append(f"状态：{STATUS_NAMES.get(snap['status'], snap['status'])}")
    return lines


def revision_diff(older: dict[str, Any] | None, newer: dict[str, Any]) -> list[str]:
    """A readable line diff of two snapshots."""
    return list(difflib.unified_diff(snapshot_lines(older), snapshot_lines(newer), lineterm="", n=0))[2:]


def revision_input(session: Session, *, entry_id: int, revision_id: int) -> tuple[FaqRevision, FaqInput]:
    """A revision of this entry and its content as input for a save."""
    revision = session.get(FaqRevision, revision_id)
    if revision is None or revision.faq_id != entry_id:
        raise NotFound("revision_not_found", "没有这个历史版本。")
    snap = revision.snapshot
    data = FaqInput.from_mapping({k: snap.get(k) for k in ("topic", "question", "answer", "source", "alternatives")})
    return revision, data


def restore_revision(
    session: Session, *, entry_id: int, revision_id: int, expected_version: Any, user: StaffUser
) -> FaqEntry:
    """Save an earlier version's content as a new version, recorded as a restore of version N."""
    revision, data = revision_input(session, entry_id=entry_id, revision_id=revision_id)
    return update_entry(
        session,
        entry_id=entry_id,
        data=data,
        expected_version=expected_version,
        user=user,
        restored_from=revision.version,
    )


def is_id(value: Any) -> bool:
    """An integer that can be a row's id (True is not 1; 10**30 would overflow the database's integer)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
