"""Back up or restore the knowledge base (DATABASE_URL: SQLite or PostgreSQL). Run with .venv/app/bin/python.

    .venv/app/bin/python scripts/backup.py backup                      # -> var/backups/kb-YYYYmmdd-HHMMSS.json.gz
    .venv/app/bin/python scripts/backup.py restore var/backups/kb-….json.gz [--force]

What a backup holds, why login tokens are left out and why this is not pg_dump: knowledge/backup.py.
Exit status: 0 done, 1 refused or failed (the reason is printed in Chinese, nothing was changed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project's packages, from any directory

from knowledge import backup
from knowledge.settings import normalize_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="知识库备份与恢复（SQLite 或 PostgreSQL，见 DATABASE_URL）")
    parser.add_argument("--database-url", help="默认为环境变量 DATABASE_URL（未设置时为 var/kb.sqlite3）")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("backup", help="把整个知识库写入一个带时间戳的备份文件")
    make.add_argument("--out", type=Path, default=backup.BACKUP_DIR, help="备份目录（默认 var/backups）")
    load = commands.add_parser("restore", help="从备份文件恢复（全部成功或不做任何改动）")
    load.add_argument("file", type=Path)
    load.add_argument("--force", action="store_true", help="目标知识库不是空的时，用备份覆盖它")
    args = parser.parse_args(argv)
    url = normalize_url(args.database_url) if args.database_url else None
    try:
        if args.command == "backup":
            path, document = backup.write_backup(url, args.out)
            print(f"已备份到 {path}（数据库版本 {document['alembic_revision']}）：")
            print(backup.describe_counts(document["counts"]) + "。")
            print("登录令牌不备份。备份文件含密码哈希和操作日志，请妥善保管。")
        else:
            result = backup.restore(args.file, url, force=args.force)
            print(result.summary())
    except backup.BackupError as exc:
        print(f"失败：{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
