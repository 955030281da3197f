"""Staff accounts from the command line: ``python -m web.cli add|disable|enable|list``.

.venv/app/bin/python -m web.cli add wang --role editor      # asks for the password
echo "$PASSWORD" | .venv/app/bin/python -m web.cli add wang --role reviewer --password-stdin
.venv/app/bin/python -m web.cli disable wang
"""

from __future__ import annotations

import argparse
import getpass
import sys

from sqlalchemy import select

from knowledge import staff
from knowledge.db import session_scope, upgrade_to_head
from knowledge.models import StaffUser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.cli", description="工作人员账号管理")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="新建账号")
    add.add_argument("username")
    add.add_argument("--role", choices=list(staff.ROLES), default="editor")
    add.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码")
    for name, text in (("disable", "停用账号"), ("enable", "启用账号")):
        commands.add_parser(name, help=text).add_argument("username")
    commands.add_parser("list", help="列出账号")
    args = parser.parse_args(argv)

    upgrade_to_head()
    try:
        with session_scope() as session:
            if args.command == "add":
                password = sys.stdin.readline().rstrip("\n") if args.password_stdin else _ask_password()
                staff.create_user(session, username=args.username, password=password, role=args.role, actor="cli")
                print(f"已创建账号“{args.username}”（{staff.ROLE_NAMES[args.role]}）。")
            elif args.command in ("disable", "enable"):
                staff.set_user_disabled(
                    session, username=args.username, disabled=args.command == "disable", actor="cli"
                )
                print(f"已{'停用' if args.command == 'disable' else '启用'}账号“{args.username}”。")
            else:
                for user in session.scalars(select(StaffUser).order_by(StaffUser.username)):
                    state = "已停用" if user.disabled else "正常"
                    print(f"{user.username}\t{staff.ROLE_NAMES[user.role]}\t{state}")
    except staff.StaffError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        return 1
    return 0


def _ask_password() -> str:
    first = getpass.getpass("密码：")
    if first != getpass.getpass("再输入一次："):
        raise staff.Invalid("password_mismatch", "两次输入的密码不一致。")
    return first


if __name__ == "__main__":
    sys.exit(main())
