"""The rules a change must pass before residents can read it: grounding and four-eyes.

- Content: every save, publication, proposal, approval and import is checked against
  ``knowledge.grounding`` (figures only from the cited clause; no empty or placeholder answer;
  a question). A refusal (``Ungrounded``) carries the missing figures and the clause itself.
- Who changes a live answer: a reviewer, directly; anyone else proposes (knowledge.proposals).
- Four-eyes (``FOUR_EYES=1``): nobody publishes or approves their own change, reviewers and
  admins included, and everyone's changes to published answers are proposals.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import grounding
from knowledge.errors import Forbidden, Ungrounded
from knowledge.models import Clause, FaqEntry, FaqProposal, FaqRevision, StaffUser
from knowledge.roles import ROLES
from knowledge.settings import four_eyes


def clause_view(clause: Clause) -> dict[str, str]:
    """A clause as a refusal shows it: ref, title and the full text."""
    return {"ref": clause.ref, "title": clause.title, "text": clause.text}


def check_content(*, question: str, answer: str, clause: Clause, unfinished: bool = False) -> None:
    """Ungrounded unless residents may read this content (knowledge.grounding).

    ``unfinished``: a draft the system starts for staff to write (the inbox's), whose placeholder
    answer is allowed until the first save by a person; its figures are still checked.
    """
    problem = grounding.check(question=question, answer=answer, clause_ref=clause.ref, clause_text=clause.text)
    if problem is None or (unfinished and problem.code == "placeholder_answer"):
        return
    field_name = "question" if problem.code == "empty_question" else "answer"
    raise Ungrounded(
        problem.code,
        problem.message,
        details={field_name: problem.message},
        fields={"figures": list(problem.figures), "clause": clause_view(clause)},
    )


def may_change_live(user: StaffUser) -> bool:
    """Whether ``user`` changes a published answer directly (else the change is a proposal)."""
    return ROLES.get(user.role, 0) >= ROLES["reviewer"] and not four_eyes()


# The revisions that put new content into an entry (the others change its status or deletion).
CONTENT_ACTIONS = ("create", "update", "build", "restore_version", "approve")


def content_author(session: Session, entry: FaqEntry) -> str:
    """Who wrote the entry's current content: the last content revision's author.

    For an approved proposal that is the proposer, not the reviewer who approved it.
    """
    revision = session.scalar(
        select(FaqRevision)
        .where(FaqRevision.faq_id == entry.id, FaqRevision.action.in_(CONTENT_ACTIONS))
        .order_by(FaqRevision.id.desc())
        .limit(1)
    )
    if revision is None:
        return entry.updated_by
    if revision.proposal_id is not None:
        proposer = session.scalar(select(FaqProposal.proposed_by).where(FaqProposal.id == revision.proposal_id))
        return proposer or revision.actor
    return revision.actor


def check_four_eyes(*, author: str, user: StaffUser, what: str) -> None:
    """Under FOUR_EYES, Forbidden when ``user`` would publish or approve their own change."""
    if four_eyes() and author == user.username:
        raise Forbidden(
            "four_eyes",
            f"四眼原则：不能{what}自己修改的内容（最近一次修改由您完成），须由另一位审核员{what}。",
        )
