"""Telegram is on exactly when TELEGRAM_TOKEN is set, and Rasa loads the composed credentials."""

from __future__ import annotations

import os
import subprocess

import yaml

from knowledge.settings import PROJECT_ROOT

RASA_PYTHON = PROJECT_ROOT / ".venv" / "rasa" / "bin" / "python"
TELEGRAM = {
    "TELEGRAM_TOKEN": "123456:test-token",
    "TELEGRAM_BOT_NAME": "hz_citizen_bot",
    "TELEGRAM_WEBHOOK_URL": "https://example.invalid/webhooks/telegram/webhook",
}


def credentials(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    return subprocess.run(
        [PROJECT_ROOT / "scripts" / "credentials.sh"], env={**base, **env}, capture_output=True, text=True, timeout=30
    )


def channel_names(path, **env: str) -> list[str]:
    code = (
        "from rasa.core.run import create_http_input_channels;"
        f"print(' '.join(sorted(c.name() for c in create_http_input_channels(None, {str(path)!r}))))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECHAT_"))}
    done = subprocess.run(
        [RASA_PYTHON, "-c", code], env={**base, **env}, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_off_when_unset(tmp_path):
    out = credentials()
    assert out.returncode == 0 and "telegram" not in yaml.safe_load(out.stdout)
    (tmp_path / "credentials.yml").write_text(out.stdout, encoding="utf-8")
    assert "telegram" not in channel_names(tmp_path / "credentials.yml")


def test_on_when_set_and_loaded_by_rasa(tmp_path):
    out = credentials(**TELEGRAM)
    assert out.returncode == 0
    assert yaml.safe_load(out.stdout)["telegram"]["access_token"] == "${TELEGRAM_TOKEN}"
    (tmp_path / "credentials.yml").write_text(out.stdout, encoding="utf-8")
    assert {"rest", "wechat", "telegram"} <= set(channel_names(tmp_path / "credentials.yml", **TELEGRAM))


def test_token_without_the_other_settings_is_a_clear_error():
    out = credentials(TELEGRAM_TOKEN="123456:test-token")
    assert out.returncode == 1 and "TELEGRAM_BOT_NAME" in out.stderr
