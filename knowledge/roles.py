"""Staff roles, from least to most: editor < reviewer < admin.

- editor: writes drafts and proposes changes to published answers;
- reviewer: also publishes, unpublishes, approves and rejects proposals, and (without
  FOUR_EYES) changes published answers directly;
- admin: also manages accounts and reads the audit log.
"""

from __future__ import annotations

from knowledge.errors import Forbidden
from knowledge.models import StaffUser

ROLES = {"editor": 1, "reviewer": 2, "admin": 3}
ROLE_NAMES = {"editor": "编辑", "reviewer": "审核员", "admin": "管理员"}


def require_role(user: StaffUser, role: str) -> None:
    """Forbidden unless ``user`` has ``role`` or a higher one."""
    if ROLES.get(user.role, 0) < ROLES[role]:
        raise Forbidden("forbidden", f"权限不足：此操作需要{ROLE_NAMES[role]}及以上角色。")
