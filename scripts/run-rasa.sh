#!/usr/bin/env bash
# Start the Rasa server the way `make run` and the tests do, configured from the environment:
#   RASA_MODEL (required), RASA_PORT (5005), RASA_INTERFACE (0.0.0.0), RUN_DIR (var),
#   ACTION_SERVER_URL / TRACKER_STORE_URL / REDIS_URL (see scripts/endpoints.py),
#   SANIC_WORKERS (Rasa's own; more than 1 needs REDIS_URL), TELEGRAM_* (scripts/credentials.sh),
#   RASA_TOKEN: Rasa's HTTP API (/model, /conversations/…) is on only with it, and only with the token.
#   SANIC_REQUEST_MAX_SIZE (524288): Sanic refuses a larger body with 413 as soon as it reads the
#   Content-Length header, before reading the body (its default is 100 MB). 512 KiB is the REST channel's
#   MAX_BODY (bot/channels/rest.py), the largest of the channels' limits (WeChat: 64 KiB, checked after).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${RASA_MODEL:?set RASA_MODEL to a trained model (make model trains one)}"
export SANIC_REQUEST_MAX_SIZE=${SANIC_REQUEST_MAX_SIZE:-524288}  # Sanic reads SANIC_* into its config
run_dir=${RUN_DIR:-var}
mkdir -p "$run_dir"
.venv/rasa/bin/python scripts/endpoints.py > "$run_dir/endpoints.yml"
scripts/credentials.sh > "$run_dir/credentials.yml"
args=(run --model "$RASA_MODEL" --port "${RASA_PORT:-5005}" --interface "${RASA_INTERFACE:-0.0.0.0}"
      --cors "${RASA_CORS:-*}" --endpoints "$run_dir/endpoints.yml" --credentials "$run_dir/credentials.yml")
if [ -n "${RASA_TOKEN:-}" ]; then
  args+=(--enable-api --auth-token "$RASA_TOKEN")
fi
exec .venv/rasa/bin/rasa "${args[@]}"
