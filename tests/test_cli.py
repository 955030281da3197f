"""The account CLI, run as a real process against a real SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys

from knowledge.settings import PROJECT_ROOT


def cli(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url},
        timeout=60,
    )


def test_add_disable_enable_and_list(tmp_path):
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    added = cli(url, "add", "wang", "--role", "reviewer", "--password-stdin", stdin="Hz-Strong-9pass!\n")
    assert added.returncode == 0, added.stderr
    assert "已创建账号“wang”（审核员）" in added.stdout
    assert cli(url, "disable", "wang").returncode == 0
    assert "wang\t审核员\t已停用" in cli(url, "list").stdout
    assert cli(url, "enable", "wang").returncode == 0
    assert "wang\t审核员\t正常" in cli(url, "list").stdout


def test_weak_password_and_unknown_user_get_chinese_errors(tmp_path):
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    weak = cli(url, "add", "li", "--password-stdin", stdin="123456\n")
    assert weak.returncode == 1 and "密码太短" in weak.stderr and "Traceback" not in weak.stderr
    missing = cli(url, "disable", "nobody")
    assert missing.returncode == 1 and "没有用户“nobody”" in missing.stderr


def test_the_readme_example_admin_password_is_accepted():
    import re

    from knowledge.staff import password_problem

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    username, password = re.search(r"ADMIN_USERNAME=(\S+) ADMIN_PASSWORD='([^']+)'", readme).groups()
    assert password_problem(username, password) is None
