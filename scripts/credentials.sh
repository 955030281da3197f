#!/usr/bin/env bash
# Print the Rasa credentials for this run: credentials.yml, plus Telegram when TELEGRAM_TOKEN is set.
set -eu
cd "$(dirname "$0")/.."
cat credentials.yml
if [ -n "${TELEGRAM_TOKEN:-}" ]; then
  if [ -z "${TELEGRAM_BOT_NAME:-}" ] || [ -z "${TELEGRAM_WEBHOOK_URL:-}" ]; then
    echo "error: TELEGRAM_TOKEN is set, so TELEGRAM_BOT_NAME and TELEGRAM_WEBHOOK_URL are needed too." >&2
    exit 1
  fi
  echo
  cat bot/telegram.yml
fi
