"""Staff accounts after they exist: roles, password resets, own passwords, names and departments.

- An admin changes a role, disables or enables an account, or resets a password. A reset gives
  a one-time temporary password (shown once to the admin, never stored in clear) and makes the
  user choose a new one before anything else (``must_change_password``; enforced by the web
  edge); the user's sessions and tokens end at once.
- Everyone changes their own password, with the current one, under the same password policy;
  their other sessions end.
- A display name and a department are optional; history, the review queue and the audit log
  show them beside the user name (``display_names``).
- No change may leave the service without an enabled admin, and nobody disables their own account.

Creating accounts and logging in stay in ``knowledge.staff``.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from knowledge.errors import Forbidden, Invalid, NotFound
from knowledge.models import BUILD_USER, StaffToken, StaffUser
from knowledge.staff import (
    NUL,
    ROLE_NAMES,
    ROLES,
    as_utc,
    audit,
    hash_password,
    password_matches,
    password_problem,
    require_role,
    set_user_disabled,
    token_digest,
)

LIMITS = {"display_name": 64, "department": 100}
# Who wrote a revision or an audit line when it was not a person.
SYSTEM_ACTORS = {BUILD_USER: "知识库构建（系统）", "bootstrap": "首次启动（系统）", "cli": "命令行（系统）"}


def get_user(session: Session, *, username: str) -> StaffUser:
    user = None if NUL in username else session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None:
        raise NotFound("user_not_found", f"没有用户“{username}”。")
    return user


def label(username: str, display_name: str = "", department: str = "") -> str:
    """How a person is named on the pages: 王芳（wang · 住房保障科）, or just the user name."""
    if username in SYSTEM_ACTORS:
        return SYSTEM_ACTORS[username]
    extra = " · ".join(part for part in (username if display_name else "", department) if part)
    shown = display_name or username
    return f"{shown}（{extra}）" if extra else shown


def display_names(session: Session) -> dict[str, str]:
    """User name -> its label, for every account (and the system's own actors)."""
    rows = session.execute(select(StaffUser.username, StaffUser.display_name, StaffUser.department))
    return {**SYSTEM_ACTORS, **{name: label(name, shown or "", department or "") for name, shown, department in rows}}


def user_view(user: StaffUser) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "role_name": ROLE_NAMES.get(user.role, user.role),
        "disabled": user.disabled,
        "display_name": user.display_name or "",
        "department": user.department or "",
        "must_change_password": bool(user.must_change_password),
        "created_at": as_utc(user.created_at).isoformat(),
    }


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))


def _enabled_admins(session: Session) -> int:
    stmt = select(func.count()).select_from(StaffUser).where(StaffUser.role == "admin", StaffUser.disabled.is_(False))
    return session.scalar(stmt) or 0


def _text(value: Any, name: str, label_text: str) -> str:
    if not isinstance(value, str):
        raise Invalid(f"invalid_{name}", f"{label_text}必须是文字。", details={name: f"{label_text}必须是文字。"})
    value = value.strip()
    if NUL in value or len(value) > LIMITS[name]:
        message = f"{label_text}最多{LIMITS[name]}个字符，且不能包含空字符。"
        raise Invalid(f"invalid_{name}", message, details={name: message})
    return value


def temporary_password(username: str) -> str:
    """A random password that meets the policy (shown once to the admin who reset it)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(3))
        if password_problem(username, candidate) is None:
            return candidate


def update_user(
    session: Session,
    *,
    username: str,
    actor: StaffUser,
    role: Any = None,
    disabled: Any = None,
    reset_password: bool = False,
    display_name: Any = None,
    department: Any = None,
) -> tuple[StaffUser, str | None]:
    """Apply an account change; (the account, the temporary password if one was set).

    Role, disabling and password resets need an admin; anyone may set their own display name
    and department.
    """
    user = get_user(session, username=username)
    admin_change = role is not None or disabled is not None or reset_password
    if admin_change or user.id != actor.id:
        require_role(actor, "admin")
    if display_name is not None or department is not None:
        changed = []
        if display_name is not None:
            user.display_name = _text(display_name, "display_name", "姓名")
            changed.append(f"姓名={user.display_name}")
        if department is not None:
            user.department = _text(department, "department", "部门")
            changed.append(f"部门={user.department}")
        audit(
            session,
            actor=actor.username,
            action="user.profile",
            target=f"user:{user.username}",
            detail=" ".join(changed),
        )
    if role is not None and role != user.role:
        if role not in ROLES:
            raise Invalid("invalid_role", f"角色必须是 {'、'.join(ROLES)} 之一。")
        if user.role == "admin" and not user.disabled and _enabled_admins(session) <= 1:
            raise Forbidden("last_admin", "不能更改最后一位管理员的角色：请先让另一位同事成为管理员。")
        audit(
            session,
            actor=actor.username,
            action="user.role",
            target=f"user:{user.username}",
            detail=f"{user.role}->{role}",
        )
        user.role = role
    if disabled is not None:
        if not isinstance(disabled, bool):
            raise Invalid("invalid_body", "disabled 必须是 true 或 false。")
        if disabled and user.id == actor.id:
            raise Invalid("self_disable", "不能停用自己的账号。")
        if disabled and user.role == "admin" and not user.disabled and _enabled_admins(session) <= 1:
            raise Forbidden("last_admin", "不能停用最后一位管理员。")
        if disabled != user.disabled:
            set_user_disabled(session, username=user.username, disabled=disabled, actor=actor.username)
    temporary = None
    if reset_password:
        temporary = temporary_password(user.username)
        user.password_hash = hash_password(temporary)
        user.must_change_password, user.failed_logins, user.locked_until = True, 0, None
        session.execute(delete(StaffToken).where(StaffToken.user_id == user.id))
        audit(session, actor=actor.username, action="user.reset_password", target=f"user:{user.username}")
    return user, temporary


def change_own_password(session: Session, *, user: StaffUser, old: Any, new: Any, keep_token: str | None) -> None:
    """Set a new password after checking the current one; ends the user's other sessions and tokens.

    Argon2 is slow on purpose: call it off the event loop.
    """
    if not isinstance(old, str) or not isinstance(new, str):
        raise Invalid("invalid_body", "请提供当前密码 old 和新密码 new。")
    if not password_matches(user.password_hash, old):
        raise Forbidden("wrong_password", "当前密码不正确，密码没有修改。", details={"old": "当前密码不正确。"})
    if new == old:
        message = "新密码不能与当前密码相同。"
        raise Invalid("same_password", message, details={"new": message})
    problem = password_problem(user.username, new)
    if problem:
        raise Invalid("weak_password", problem, details={"new": problem})
    user.password_hash = hash_password(new)
    user.must_change_password = False
    others = delete(StaffToken).where(StaffToken.user_id == user.id)
    if keep_token:
        others = others.where(StaffToken.token_hash != token_digest(keep_token))
    session.execute(others)
    audit(session, actor=user.username, action="user.password", target=f"user:{user.username}")
