"""Proposals and review: how a change to a published answer reaches residents.

Someone who may not change a live answer directly (an editor; with ``FOUR_EYES=1`` everyone)
saves a *proposal*: residents keep the published answer. A reviewer sees it in the queue with
the line diff against the live version, and approves it (the change is published at once, as a
new version of the entry) or rejects it with a reason the proposer reads. Under four-eyes
nobody approves their own proposal.

A proposal holds the whole new content and the entry version it was written against. If the
entry changed since, the proposal is *stale*: the queue says so and shows the diff against
what is live now, which is what an approval would replace. The same person's newer proposal
for the same entry supersedes their older open one.

Proposals are checked against the grounding rule when they are made and again when approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge.errors import Closed, Invalid, NotFound, StaffError
from knowledge.models import Clause, FaqEntry, FaqProposal, StaffUser, utcnow
from knowledge.staff import (
    NUL,
    FaqInput,
    apply_content,
    as_utc,
    audit,
    check_content,
    check_four_eyes,
    check_version,
    clause_for_ref,
    get_entry,
    may_change_live,
    record_revision,
    require_role,
    revision_diff,
    revision_input,
    update_entry,
)

STATUSES = {"open": "待审核", "approved": "已批准", "rejected": "已驳回", "superseded": "已被新提议取代"}
CONTENT_FIELDS = ("topic", "question", "alternatives", "answer", "source")
MAX_REASON = 1000


@dataclass
class Saved:
    """What a save did: changed the entry, or stored a proposal (residents keep the live answer)."""

    entry: FaqEntry
    proposal: FaqProposal | None = None


def content_of(snapshot_or_entry: dict[str, Any]) -> dict[str, Any]:
    return {name: snapshot_or_entry.get(name) for name in CONTENT_FIELDS}


def _entry_content(entry: FaqEntry) -> dict[str, Any]:
    return {
        "topic": entry.topic,
        "question": entry.question,
        "alternatives": list(entry.alternatives or []),
        "answer": entry.answer,
        "source": entry.clause.ref,
    }


def _input_content(data: FaqInput, clause: Clause) -> dict[str, Any]:
    return {
        "topic": data.topic,
        "question": data.question,
        "alternatives": list(data.alternatives),
        "answer": data.answer,
        "source": clause.ref,
    }


def needs_proposal(entry: FaqEntry, user: StaffUser) -> bool:
    """Whether ``user``'s change to this entry is stored as a proposal rather than saved."""
    return entry.status == "published" and not may_change_live(user)


def save_entry(
    session: Session,
    *,
    entry_id: int,
    data: FaqInput,
    expected_version: Any,
    user: StaffUser,
    restores_version: int | None = None,
) -> Saved:
    """Save a change, or store it as a proposal when ``user`` may not change this live answer directly."""
    entry = get_entry(session, entry_id=entry_id)
    if not needs_proposal(entry, user):
        return Saved(
            update_entry(
                session,
                entry_id=entry_id,
                data=data,
                expected_version=expected_version,
                user=user,
                restored_from=restores_version,
            )
        )
    require_role(user, "editor")
    check_version(entry, expected_version)
    if entry.deleted_at is not None:
        raise StaffError("deleted", "该条目已删除，请先恢复再修改。")
    clause = clause_for_ref(session, data.source)
    check_content(question=data.question, answer=data.answer, clause=clause)
    proposed = _input_content(data, clause)
    if proposed == _entry_content(entry):
        raise Invalid("no_change", "提议的内容与当前发布的内容相同，无需提交。")
    for older in session.scalars(
        select(FaqProposal).where(
            FaqProposal.faq_id == entry.id, FaqProposal.proposed_by == user.username, FaqProposal.status == "open"
        )
    ):
        older.status, older.decided_at = "superseded", utcnow()
        older.reason = "被同一人对该条目的新提议取代。"
    proposal = FaqProposal(
        faq_id=entry.id,
        base_version=entry.version,
        proposed=proposed,
        restores_version=restores_version,
        proposed_by=user.username,
        status="open",
        reason="",
    )
    session.add(proposal)
    session.flush()
    detail = f"faq:{entry.id} v{entry.version}" + (f" from v{restores_version}" if restores_version else "")
    audit(session, actor=user.username, action="proposal.create", target=f"proposal:{proposal.id}", detail=detail)
    return Saved(entry, proposal)


def restore_or_propose(
    session: Session, *, entry_id: int, revision_id: int, expected_version: Any, user: StaffUser
) -> Saved:
    """Bring back an earlier version's content: saved as "restore of version N", or proposed as such."""
    revision, data = revision_input(session, entry_id=entry_id, revision_id=revision_id)
    return save_entry(
        session,
        entry_id=entry_id,
        data=data,
        expected_version=expected_version,
        user=user,
        restores_version=revision.version,
    )


def get_proposal(session: Session, *, proposal_id: int) -> FaqProposal:
    proposal = session.get(FaqProposal, proposal_id)
    if proposal is None:
        raise NotFound("proposal_not_found", f"没有编号为 {proposal_id} 的修改提议。")
    return proposal


def list_proposals(
    session: Session,
    *,
    status: str | None = None,
    faq_id: int | None = None,
    proposed_by: str | None = None,
    limit: int = 200,
) -> list[FaqProposal]:
    """Newest first; open ones are the reviewers' queue."""
    if status is not None and status not in STATUSES:
        raise Invalid("invalid_status", f"status 必须是 {'、'.join(STATUSES)} 之一。")
    stmt = select(FaqProposal).order_by(FaqProposal.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(FaqProposal.status == status)
    if faq_id is not None:
        stmt = stmt.where(FaqProposal.faq_id == faq_id)
    if proposed_by:
        stmt = stmt.where(FaqProposal.proposed_by == proposed_by.replace(NUL, ""))
    return list(session.scalars(stmt))


def open_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(FaqProposal).where(FaqProposal.status == "open")) or 0


def proposal_dict(session: Session, proposal: FaqProposal, *, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A proposal as the queue and the API show it, with the diff against the live version."""
    names = names or {}
    entry = get_entry(session, entry_id=proposal.faq_id)
    live = _entry_content(entry)
    return {
        "id": proposal.id,
        "faq_id": proposal.faq_id,
        "status": proposal.status,
        "status_name": STATUSES.get(proposal.status, proposal.status),
        "proposed_by": proposal.proposed_by,
        "proposed_by_name": names.get(proposal.proposed_by, proposal.proposed_by),
        "created_at": as_utc(proposal.created_at).isoformat(),
        "base_version": proposal.base_version,
        "live_version": entry.version,
        "stale": proposal.status == "open" and proposal.base_version != entry.version,
        "restores_version": proposal.restores_version,
        "proposed": dict(proposal.proposed),
        "live": live,
        "entry_status": entry.status,
        "entry_deleted": entry.deleted_at is not None,
        "diff": revision_diff(live, content_of(proposal.proposed)),
        "decided_by": proposal.decided_by,
        "decided_by_name": names.get(proposal.decided_by or "", proposal.decided_by),
        "decided_at": as_utc(proposal.decided_at).isoformat() if proposal.decided_at else None,
        "reason": proposal.reason,
        "applied_version": proposal.applied_version,
    }


def _open(session: Session, proposal_id: int) -> FaqProposal:
    proposal = get_proposal(session, proposal_id=proposal_id)
    if proposal.status != "open":
        raise Closed(
            "proposal_closed",
            f"修改提议 #{proposal.id} 已经处理过了（{STATUSES.get(proposal.status, proposal.status)}），不能再次处理。",
        )
    return proposal


def approve(
    session: Session, *, proposal_id: int, user: StaffUser, expected_version: Any = None, reason: str = ""
) -> tuple[FaqProposal, FaqEntry]:
    """Publish the proposed content as a new version of the entry (the reviewer's decision).

    ``expected_version``, when given, is the live version the reviewer compared against: if the
    entry changed since, the approval is refused (409) so that nothing is replaced unseen.
    """
    require_role(user, "reviewer")
    proposal = _open(session, proposal_id)
    check_four_eyes(author=proposal.proposed_by, user=user, what="批准")
    entry = get_entry(session, entry_id=proposal.faq_id)
    if expected_version is not None:
        check_version(entry, expected_version)
    if entry.deleted_at is not None:
        raise StaffError("deleted", "该条目已删除：请先恢复条目，或驳回这条提议。")
    data = FaqInput.from_mapping(content_of(proposal.proposed))
    clause = clause_for_ref(session, data.source)
    check_content(question=data.question, answer=data.answer, clause=clause)
    apply_content(entry, data, clause, actor=user.username)
    action = "approve" if proposal.restores_version is None else "restore_version"
    record_revision(
        session,
        entry,
        clause,
        action=action,
        actor=user.username,
        restored_from=proposal.restores_version,
        proposal_id=proposal.id,
    )
    proposal.status, proposal.decided_by, proposal.decided_at = "approved", user.username, utcnow()
    proposal.applied_version, proposal.reason = entry.version, _reason(reason, required=False)
    audit(
        session,
        actor=user.username,
        action="proposal.approve",
        target=f"proposal:{proposal.id}",
        detail=f"faq:{entry.id} v{entry.version}",
    )
    return proposal, entry


def reject(session: Session, *, proposal_id: int, user: StaffUser, reason: Any) -> FaqProposal:
    """Close the proposal without changing the entry; the proposer reads ``reason``."""
    require_role(user, "reviewer")
    proposal = _open(session, proposal_id)
    proposal.reason = _reason(reason, required=True)
    proposal.status, proposal.decided_by, proposal.decided_at = "rejected", user.username, utcnow()
    audit(
        session,
        actor=user.username,
        action="proposal.reject",
        target=f"proposal:{proposal.id}",
        detail=f"faq:{proposal.faq_id} {proposal.reason[:200]}",
    )
    return proposal


def _reason(reason: Any, *, required: bool) -> str:
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise Invalid("invalid_reason", "理由 reason 必须是文字。")
    reason = reason.replace(NUL, "").strip()
    if required and not reason:
        raise Invalid(
            "reason_required", "请填写驳回理由：提议人会看到它，并据此修改。", details={"reason": "请填写驳回理由。"}
        )
    if len(reason) > MAX_REASON:
        raise Invalid("reason_too_long", f"理由太长：最多{MAX_REASON}个字符。", details={"reason": "理由太长。"})
    return reason
