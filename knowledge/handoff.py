"""Hand-off to staff on duty (issue 15): a resident who asks for a person gets one, or 12345.

The state lives in the database (tables ``desk_staff``, ``handoffs``, ``handoff_messages``), not in
a process, so it holds with several Rasa, action-server and web workers:

- the action server (``actions/steps.py``) calls ``request_person`` when a resident asks for a
  person, and ``forward_to_desk`` for every later message: while a hand-off is waiting or active,
  the resident's words go to the desk instead of being answered by the bot;
- staff on the desk (``web/desk.py``: JSON API and ``/admin/desk``) go on duty, claim a waiting
  conversation (a second claim is refused: one atomic ``UPDATE … WHERE status = 'waiting'``),
  reply and close; every action is audited, and every text is masked before it is stored;
- the widget polls ``messages_for`` for staff and system messages after its cursor; a WeChat
  resident is sent them instead (``web/handoff_push.py``, WeChat's customer-service message API,
  which takes messages only within ``WECHAT_WINDOW`` of the resident's last message: a reply after
  that is refused here with 409, before anything is stored).

Nobody on duty: the resident gets 12345 at once. Nobody claims within ``HANDOFF_CLAIM_TIMEOUT``
seconds (default 180): the hand-off is closed, the resident is told and given 12345 (on the next
poll or message, whichever comes first), and the bot answers again. Expiry is checked by whoever
looks next; each hand-off is expired by one atomic update, so two workers never both notify. A
WeChat resident does not poll: their hand-off is expired only by the staff service's sweeper, which
then sends them the 12345 text (``expire_unclaimed(push=True)``), or by their own next message,
whose reply says it.

Authors in the transcript: ``resident``, ``bot``, ``staff``, ``system`` (shown to the resident) and
``note`` (for staff only: e.g. that WeChat did not take a message).

The fixed texts are here, not in domain.yml: they belong to this feature and need no retraining.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.orm import Session

from knowledge.errors import Closed, Forbidden, Invalid, NotFound
from knowledge.models import DeskStaff, Handoff, HandoffMessage, StaffUser, utcnow
from knowledge.privacy import mask_personal_data
from knowledge.roles import ROLES
from knowledge.staff import as_utc, audit

HOTLINE = "12345"
DESK_ROLE = "reviewer"  # reviewers and admins work the desk by their role; editors when allowed
STATUSES = ("waiting", "active", "closed")
OPEN = ("waiting", "active")
PUSHED_CHANNELS = ("wechat",)  # residents who are sent staff messages rather than polling for them
WECHAT_WINDOW = timedelta(hours=48)  # WeChat takes customer-service messages this long after the resident's last
MAX_TEXT = 2000
MAX_SENDER = 128
MAX_LISTED = 200

CONNECTING = (
    "好的，正在为您转接人工服务，请稍候。工作人员接入后会在这里回复您，您也可以先把情况写下来。"
    "如果几分钟内没有工作人员接入，我会告诉您，您也可以随时拨打12345政务服务便民热线。"
)
NOBODY_ON_DUTY = "抱歉，现在没有工作人员在线。您可以拨打12345政务服务便民热线（24小时）找人工服务；也可以继续向我提问。"
ALREADY_WAITING = "您已在等待人工服务，工作人员接入后会在这里回复您。"
WAITING_ACK = "已转给工作人员，请稍候。"
ACTIVE_ACK = "已发送给工作人员。"
TIMED_OUT = (
    "抱歉，暂时没有工作人员接入。您可以拨打12345政务服务便民热线找人工服务；我会继续回答您关于《行动计划》的问题。"
)
CLAIMED = "工作人员已接入，请直接说明您的情况。"
CLOSED_BY_STAFF = "工作人员已结束本次对话。您可以继续向我提问，也可以拨打12345政务服务便民热线。"
STAFF_PREFIX = "工作人员："  # before a staff reply sent as a WeChat message (the widget marks it itself)


def claim_timeout() -> timedelta:
    """``HANDOFF_CLAIM_TIMEOUT`` seconds (default 180) a hand-off may wait to be claimed."""
    raw = os.environ.get("HANDOFF_CLAIM_TIMEOUT", "180").strip()
    seconds = float(raw) if raw.replace(".", "", 1).isdigit() else 180.0
    return timedelta(seconds=seconds)


# -- staff: permission and duty ----------------------------------------------------------------
def _desk_row(session: Session, user: StaffUser) -> DeskStaff | None:
    return session.get(DeskStaff, user.id)


def may_work_desk(session: Session, user: StaffUser) -> bool:
    """Admins and reviewers by their role; an editor an admin allowed (``allow_desk``)."""
    if ROLES.get(user.role, 0) >= ROLES[DESK_ROLE]:
        return True
    row = _desk_row(session, user)
    return bool(row and row.desk_allowed)


def require_desk(session: Session, user: StaffUser) -> None:
    if not may_work_desk(session, user):
        raise Forbidden("forbidden", "权限不足：人工服务台需要审核员或管理员角色，或由管理员单独授权。")


def allow_desk(session: Session, *, user: StaffUser, allowed: bool, actor: StaffUser) -> None:
    """An admin gives (or takes) an editor the desk permission."""
    if ROLES.get(actor.role, 0) < ROLES["admin"]:
        raise Forbidden("forbidden", "权限不足：只有管理员可以授权人工服务台。")
    row = _desk_row(session, user) or DeskStaff(user_id=user.id, desk_allowed=False, on_duty=False)
    row.desk_allowed = allowed
    if not allowed:
        row.on_duty = False
    row.changed_at = utcnow()
    session.add(row)
    audit(session, actor=actor.username, action="desk_allow" if allowed else "desk_deny", target=user.username)


def is_on_duty(session: Session, user: StaffUser) -> bool:
    row = _desk_row(session, user)
    return bool(row and row.on_duty)


def set_duty(session: Session, *, user: StaffUser, on: Any) -> bool:
    """Switch the caller's on-duty state; returns it."""
    if not isinstance(on, bool):
        raise Invalid("invalid_duty", '请求内容需要 "on": true 或 false。')
    require_desk(session, user)
    row = _desk_row(session, user) or DeskStaff(user_id=user.id, desk_allowed=False, on_duty=False)
    if row.on_duty != on:
        row.on_duty = on
        row.changed_at = utcnow()
        audit(session, actor=user.username, action="duty_on" if on else "duty_off")
    session.add(row)
    return on


def staff_on_duty(session: Session) -> int:
    """How many enabled staff are on duty now."""
    stmt = (
        select(func.count())
        .select_from(DeskStaff)
        .join(StaffUser, StaffUser.id == DeskStaff.user_id)
        .where(DeskStaff.on_duty.is_(True), StaffUser.disabled.is_(False))
    )
    return session.scalar(stmt) or 0


# -- expiry ------------------------------------------------------------------------------------
def expire_unclaimed(
    session: Session, now: datetime | None = None, *, sender: str | None = None, push: bool = False
) -> list[Handoff]:
    """Close every hand-off that waited longer than the timeout; tell each resident once.

    Hand-offs of ``PUSHED_CHANNELS`` (WeChat) are left to a caller that sends the resident the
    notice (``push=True``: the staff service's sweeper), except the caller's own ``sender``'s
    (whose reply says it).
    """
    now = now or utcnow()
    limit = now - claim_timeout()
    stmt = select(Handoff).where(Handoff.status == "waiting", Handoff.waiting_since < limit)
    if not push:
        own = Handoff.sender == sender if sender is not None else false()
        stmt = stmt.where(or_(Handoff.channel.not_in(PUSHED_CHANNELS), own))
    candidates = list(session.scalars(stmt))
    expired = []
    for handoff in candidates:
        done = session.execute(
            update(Handoff)
            .where(Handoff.id == handoff.id, Handoff.status == "waiting")
            .values(status="closed", closed_at=now, close_reason="timeout")
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # this caller expired it: only one worker tells the resident
            session.add(HandoffMessage(handoff_id=handoff.id, author="system", text=TIMED_OUT, at=now))
            audit(session, actor="system", action="handoff_timeout", target=f"handoff:{handoff.id}")
            session.refresh(handoff)
            expired.append(handoff)
    return expired


# -- the resident's side (action server) -------------------------------------------------------
def open_handoff(session: Session, sender: str) -> Handoff | None:
    stmt = select(Handoff).where(Handoff.sender == sender, Handoff.status.in_(OPEN)).order_by(Handoff.id.desc())
    return session.scalars(stmt.limit(1)).first()


class OpenHandoffs:
    """Who has an open hand-off, read again only when the hand-offs' counter moved.

    Nearly every resident message asks "is this resident handed over?" (``forward_to_desk``); one
    query for it was 15 % of the action server's CPU on PostgreSQL under load (py-spy, issue 16).
    The counter (row 2 of ``kb_version``, bumped by a trigger in the same transaction as any change
    to ``handoffs``; on SQLite, ``PRAGMA data_version``) is read at the start of the message
    (knowledge.answering). The set is read after the counter, so a hand-off opened in between is
    seen at once or the next time. Counter None (unknown): the set is read every time.
    """

    def __init__(self) -> None:
        self._counter: int | None = None
        self._senders: frozenset[str] = frozenset()

    def may_include(self, make_session: Any, sender: str, counter: int | None) -> bool:
        if counter is None or counter != self._counter:
            self._senders = self._read(make_session)
            self._counter = counter
        return sender[:MAX_SENDER] in self._senders

    @staticmethod
    def _read(make_session: Any) -> frozenset[str]:
        with make_session() as session:
            stmt = select(Handoff.sender).where(Handoff.status.in_(OPEN)).distinct()
            return frozenset(session.scalars(stmt))


def _add(session: Session, handoff: Handoff, author: str, text: str, staff_name: str | None = None) -> HandoffMessage:
    message = HandoffMessage(
        handoff_id=handoff.id, author=author, staff_name=staff_name, text=mask_personal_data(text)[:MAX_TEXT]
    )
    session.add(message)
    session.flush()
    return message


def request_person(session: Session, *, sender: str, channel: str = "rest", words: list[str] | None = None) -> str:
    """A resident asked for a person: the reply text (connecting, or 12345 when nobody is on duty)."""
    sender = sender[:MAX_SENDER]
    expire_unclaimed(session, sender=sender)
    if open_handoff(session, sender) is not None:
        return ALREADY_WAITING
    if not staff_on_duty(session):
        audit(session, actor="system", action="handoff_no_staff", target=f"sender:{sender[:40]}")
        return NOBODY_ON_DUTY
    handoff = Handoff(sender=sender, channel=(channel or "rest")[:32], status="waiting", waiting_since=utcnow())
    session.add(handoff)
    session.flush()
    for text in words or []:
        if text and text.strip():
            _add(session, handoff, "resident", text.strip())
    _add(session, handoff, "bot", CONNECTING)
    audit(session, actor="system", action="handoff_request", target=f"handoff:{handoff.id}")
    return CONNECTING


def forward_to_desk(session: Session, *, sender: str, text: str) -> str | None:
    """While a hand-off is open, the resident's message goes to the desk: the short reply, else None.

    A hand-off that has just timed out returns the 12345 text (the bot answers the next message).
    """
    sender = sender[:MAX_SENDER]
    if open_handoff(session, sender) is None:  # nearly every message: one indexed query, nothing to expire
        return None
    expired = expire_unclaimed(session, sender=sender)
    if any(h.sender == sender for h in expired):
        return TIMED_OUT
    handoff = open_handoff(session, sender)
    if handoff is None:
        return None
    if text.strip():
        _add(session, handoff, "resident", text.strip())
    return WAITING_ACK if handoff.status == "waiting" else ACTIVE_ACK


def messages_for(session: Session, *, sender: str, after: int | None) -> dict[str, Any]:
    """What the widget polls: staff and system messages after ``after`` and the hand-off state.

    Without a cursor: the messages of the open hand-off, if any (a widget that just learnt of it).
    """
    sender = sender[:MAX_SENDER]
    expire_unclaimed(session, sender=sender)
    handoff = open_handoff(session, sender)
    stmt = (
        select(HandoffMessage)
        .join(Handoff, Handoff.id == HandoffMessage.handoff_id)
        .where(Handoff.sender == sender, HandoffMessage.author.in_(("staff", "system")))
        .order_by(HandoffMessage.id)
    )
    if after is not None:
        stmt = stmt.where(HandoffMessage.id > after)
    elif handoff is not None:
        stmt = stmt.where(HandoffMessage.handoff_id == handoff.id)
    else:
        stmt = stmt.where(false())
    found = list(session.scalars(stmt.limit(100)))
    if found:
        cursor = found[-1].id
    elif after is not None:
        cursor = after
    else:
        last = (
            select(func.max(HandoffMessage.id))
            .join(Handoff, Handoff.id == HandoffMessage.handoff_id)
            .where(Handoff.sender == sender)
        )
        cursor = session.scalar(last) or 0
    return {
        "messages": [{"text": m.text, "at": as_utc(m.at).isoformat(), "from": m.author} for m in found],
        "cursor": cursor,
        "handoff": handoff.status if handoff else None,
    }


# -- the desk ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    """A hand-off as the API and the desk page show it."""

    handoff: Handoff
    transcript: list[HandoffMessage]

    def reply_until(self) -> datetime | None:
        """Until when WeChat takes messages to this resident (None: not a WeChat conversation)."""
        if self.handoff.channel not in PUSHED_CHANNELS:
            return None
        heard = [as_utc(m.at) for m in self.transcript if m.author == "resident"]
        return max(heard or [as_utc(self.handoff.waiting_since)]) + WECHAT_WINDOW

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        h = self.handoff
        since = as_utc(h.waiting_since)
        until = self.reply_until()
        return {
            "id": h.id,
            "sender": h.sender,
            "channel": h.channel,
            "status": h.status,
            "waiting_since": since.isoformat(),
            "waiting_seconds": int(((now or utcnow()) - since).total_seconds()),
            "claimed_by": h.claimed_by,
            "closed_by": h.closed_by,
            "close_reason": h.close_reason,
            "reply_until": until.isoformat() if until else None,
            "transcript": [
                {"from": m.author, "text": m.text, "at": as_utc(m.at).isoformat(), "staff": m.staff_name}
                for m in self.transcript
            ],
        }


def _transcripts(session: Session, ids: list[int]) -> dict[int, list[HandoffMessage]]:
    found: dict[int, list[HandoffMessage]] = {i: [] for i in ids}
    if ids:
        stmt = select(HandoffMessage).where(HandoffMessage.handoff_id.in_(ids)).order_by(HandoffMessage.id)
        for message in session.scalars(stmt):
            found[message.handoff_id].append(message)
    return found


def list_handoffs(session: Session, *, user: StaffUser, status: Any = "waiting") -> list[View]:
    """Waiting and active oldest first; closed newest first (the latest ``MAX_LISTED``)."""
    require_desk(session, user)
    if status not in STATUSES:
        raise Invalid("invalid_status", "status 必须是 waiting、active 或 closed 之一。")
    expire_unclaimed(session)
    stmt = select(Handoff).where(Handoff.status == status)
    order = Handoff.id.desc() if status == "closed" else Handoff.waiting_since
    handoffs = list(session.scalars(stmt.order_by(order, Handoff.id).limit(MAX_LISTED)))
    texts = _transcripts(session, [h.id for h in handoffs])
    return [View(h, texts[h.id]) for h in handoffs]


def get_handoff(session: Session, *, handoff_id: int, user: StaffUser) -> View:
    require_desk(session, user)
    expire_unclaimed(session)
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise NotFound("not_found", f"找不到编号为 {handoff_id} 的人工服务对话。")
    return View(handoff, _transcripts(session, [handoff.id])[handoff.id])


def claim(session: Session, *, handoff_id: int, user: StaffUser) -> View:
    """Take a waiting conversation; anyone else's claim after this one gets 409."""
    current = get_handoff(session, handoff_id=handoff_id, user=user)
    done = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status == "waiting")
        .values(status="active", claimed_by=user.username, claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(current.handoff)
    if done.rowcount != 1:
        h = current.handoff
        if h.status == "active":
            raise Closed("already_claimed", f"该对话已由 {h.claimed_by} 接入，不能重复接入。")
        raise Closed("handoff_closed", "该对话已结束（已关闭或等待超时），不能再接入。")
    _add(session, current.handoff, "system", CLAIMED)
    audit(session, actor=user.username, action="handoff_claim", target=f"handoff:{handoff_id}")
    return get_handoff(session, handoff_id=handoff_id, user=user)


def reply(session: Session, *, handoff_id: int, user: StaffUser, text: Any) -> View:
    """A staff reply to the resident, masked before it is stored (and sent)."""
    if not isinstance(text, str) or not text.strip():
        raise Invalid("invalid_text", "回复内容不能为空。")
    if len(text) > MAX_TEXT or "\x00" in text:
        raise Invalid("invalid_text", f"回复内容太长或包含无效字符：最多{MAX_TEXT}个字。")
    current = get_handoff(session, handoff_id=handoff_id, user=user)
    h = current.handoff
    if h.status != "active":
        raise Closed("not_active", "只能回复已接入、尚未结束的对话：请先接入。")
    if h.claimed_by != user.username:
        raise Forbidden("forbidden", f"该对话由 {h.claimed_by} 接入，只有接入的工作人员可以回复。")
    until = current.reply_until()
    if until is not None and until < utcnow():
        raise Closed(
            "wechat_window_closed",
            "回复没有发送：居民最后一次给公众号发消息已超过48小时，微信不再允许给他发消息。"
            "请结束对话；居民再发消息后才能继续回复，或请居民拨打12345。",
        )
    _add(session, h, "staff", text.strip(), staff_name=user.username)
    audit(session, actor=user.username, action="handoff_reply", target=f"handoff:{handoff_id}", detail=f"{len(text)}字")
    return get_handoff(session, handoff_id=handoff_id, user=user)


def close(session: Session, *, handoff_id: int, user: StaffUser) -> View:
    """End a waiting or active hand-off: the resident is told and the bot answers again."""
    current = get_handoff(session, handoff_id=handoff_id, user=user)
    done = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.status.in_(OPEN))
        .values(status="closed", closed_at=utcnow(), closed_by=user.username, close_reason="staff")
        .execution_options(synchronize_session=False)
    )
    session.refresh(current.handoff)
    if done.rowcount != 1:
        raise Closed("handoff_closed", "该对话已经结束。")
    _add(session, current.handoff, "system", CLOSED_BY_STAFF)
    audit(session, actor=user.username, action="handoff_close", target=f"handoff:{handoff_id}")
    return get_handoff(session, handoff_id=handoff_id, user=user)


# -- what reaches a WeChat resident (web/handoff_push.py sends it) ------------------------------
def pushed_text(message: HandoffMessage) -> str | None:
    """The text a WeChat resident is sent for a transcript line (None: nothing for the resident)."""
    if message.author == "staff":
        return STAFF_PREFIX + message.text
    if message.author == "system":
        return message.text
    return None


def add_note(session: Session, *, handoff_id: int, text: str) -> None:
    """A line for staff only (never sent or shown to the resident), e.g. that WeChat refused a message."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is not None:
        _add(session, handoff, "note", text)
        audit(session, actor="system", action="handoff_not_delivered", target=f"handoff:{handoff_id}", detail=text)
