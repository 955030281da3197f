# 杭州市民服务助手 — every target sets up what it needs from a clean clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

# PROFILE=prod: PostgreSQL for the knowledge base and Rasa's conversations, Redis lock store and
# rate limits, two Rasa workers and two action-server workers, four-eyes publishing (docs/deploy.md). Any variable set in
# the environment wins over these defaults.
PROFILE ?= embedded
ifeq ($(PROFILE),prod)
export DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/hangzhou_kb
export TRACKER_STORE_URL ?= postgresql://postgres@127.0.0.1:5432/hangzhou_tracker
export REDIS_URL ?= redis://127.0.0.1:6379/0
export SANIC_WORKERS ?= 2
export ACTION_SERVER_SANIC_WORKERS ?= 2
export FOUR_EYES ?= 1
else ifneq ($(PROFILE),embedded)
$(error PROFILE must be embedded (default) or prod)
endif

RASA_ENV := .venv/rasa
APP_ENV := .venv/app
RASA := $(RASA_ENV)/bin/rasa
APP_PY := $(APP_ENV)/bin/python
MODEL_NAME = nlu-core-$(shell scripts/model-hash.sh)
MODEL = models/$(MODEL_NAME).tar.gz

.PHONY: help setup kb model hostile-model run test eval bench lint clean deploy-check backup restore screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(RASA_ENV)/.installed: requirements/rasa.txt
	py=$$(scripts/find-python310.sh)
	rm -rf $(RASA_ENV) && "$$py" -m venv $(RASA_ENV)
	$(RASA_ENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/rasa.txt
	touch $@

$(APP_ENV)/.installed: requirements/app.txt
	py=$$(scripts/find-python310.sh)
	rm -rf $(APP_ENV) && "$$py" -m venv $(APP_ENV)
	$(APP_ENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/app.txt
	touch $@

# Real headless browser for the page tests: Debian's chromium (Playwright drives it via executable_path),
# and Chinese fonts so that screenshots show Chinese.
.venv/.chromium:
	if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh | grep -q .; then
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo)
	  $$sudo apt-get update -qq
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
	fi
	mkdir -p .venv && touch $@

# docker-compose 1.29.2 checks docker-compose.yml offline (no Docker engine needed); it needs
# PyYAML < 6, hence its own environment.
TOOLS_ENV := .venv/tools
$(TOOLS_ENV)/.installed: requirements/tools.txt
	py=$$(scripts/find-python310.sh)
	rm -rf $(TOOLS_ENV) && "$$py" -m venv $(TOOLS_ENV)
	$(TOOLS_ENV)/bin/pip install --quiet --disable-pip-version-check Cython==0.29.37 wheel==0.48.0 setuptools==65.5.0
	$(TOOLS_ENV)/bin/pip install --quiet --disable-pip-version-check --no-build-isolation -r requirements/tools.txt
	touch $@

setup: $(RASA_ENV)/.installed $(APP_ENV)/.installed $(TOOLS_ENV)/.installed .venv/.chromium ## create the Python 3.10 environments, install chromium

kb: $(APP_ENV)/.installed ## build or refresh the knowledge base (idempotent, keeps staff edits)
	$(APP_PY) -m knowledge.build

model: $(RASA_ENV)/.installed ## train the Rasa model, only if data/config/domain changed
	if [ -f $(MODEL) ]; then echo "模型已是最新：$(MODEL)"; exit 0; fi
	started=$$(date +%s)
	$(RASA) train --config config.yml --domain domain.yml --data data --out models --fixed-model-name $(MODEL_NAME)
	echo $$(( $$(date +%s) - started )) > models/$(MODEL_NAME).train-seconds  # reported by make bench
	echo "训练用时 $$(cat models/$(MODEL_NAME).train-seconds) 秒"
	find models -maxdepth 1 -name 'nlu-core-*' ! -name '$(MODEL_NAME).*' -delete

hostile-model: $(APP_ENV)/.installed ## retrain knowledge/hostile_model.npz after editing knowledge/hostile_examples.yml, NLU data, FAQ seeds or the evaluation set
	$(APP_PY) scripts/train_hostile.py

run: setup kb model ## start Rasa (:5005), the action server (:5055), the staff service (:8000) on 127.0.0.1; a crashed one restarts; Ctrl-C stops
	echo "配置：PROFILE=$(PROFILE)"
	export RASA_MODEL=$(MODEL) RUN_DIR="$${RUN_DIR:-var}"
	mkdir -p "$$RUN_DIR"
	exec $(APP_ENV)/bin/supervisord -c supervisord.conf  # supervisord.conf says what it runs and how

test: setup kb model ## run every test (pytest, rasa data validate, story tests, NLU eval)
	$(APP_ENV)/bin/ruff check .
	RASA_MODEL=$(MODEL) $(APP_ENV)/bin/pytest
	$(RASA) data validate --config config.yml --domain domain.yml --data data
	$(RASA) test core --model $(MODEL) --stories tests/test_stories.yml --fail-on-prediction-errors --out results/stories
	$(MAKE) --no-print-directory eval

eval: setup kb model ## held-out accuracy per kind of resident message (fails below tests/eval/floor.yml) and the NLU eval
	rm -rf results/nlu-eval
	$(RASA) test nlu --model $(MODEL) --config config.yml --nlu tests/nlu_eval.yml --out results/nlu-eval >/dev/null
	$(APP_PY) scripts/eval_report.py results/nlu-eval/intent_report.json --min 0.90
	RASA_MODEL=$(MODEL) $(APP_PY) scripts/eval_residents.py --check --floor tests/eval/floor.yml --out results/eval-residents.md

bench: setup kb model ## benchmarks on the real stack, each beside its baseline; results in docs/bench-*.md
	$(APP_PY) -m bench.stack_vs_floor --out docs/bench-load.md
	$(APP_PY) -m bench.live_edit --edits 20 --out docs/bench-live-edit.md
	$(APP_PY) -m bench.ranking --out docs/bench-ranking.md

screenshots: setup model ## the documentation's screenshots in docs/ from a freshly built knowledge base (never from make test)
	RASA_MODEL=$(MODEL) $(APP_PY) scripts/screenshots.py

backup: $(APP_ENV)/.installed ## back up the knowledge base (DATABASE_URL) to var/backups/kb-<time>.json.gz
	$(APP_PY) scripts/backup.py backup

restore: $(APP_ENV)/.installed ## restore a backup: make restore FILE=var/backups/kb-….json.gz [FORCE=1]
	if [ -z "$(FILE)" ]; then echo "用法：make restore FILE=var/backups/kb-….json.gz（目标非空时加 FORCE=1）" >&2; exit 2; fi
	$(APP_PY) scripts/backup.py restore "$(FILE)" $(if $(FORCE),--force,)

deploy-check: setup ## check docker-compose.yml, deploy/k8s and the Dockerfiles offline (images are not built)
	$(APP_ENV)/bin/pytest tests/test_deploy_files.py -q

lint: $(APP_ENV)/.installed ## ruff check and format check
	$(APP_ENV)/bin/ruff check .
	$(APP_ENV)/bin/ruff format --check .

clean: ## remove environments, models, results and the local database
	rm -rf .venv models results var .cache
