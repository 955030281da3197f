"""The whole stack as real processes: action server, Rasa server and staff web service."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from knowledge.settings import PROJECT_ROOT

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
RASA = PROJECT_ROOT / ".venv" / "rasa" / "bin" / "rasa"
APP_PYTHON = PROJECT_ROOT / ".venv" / "app" / "bin" / "python"
ADMIN = ("stack-admin", "Test-Admin-Passw0rd!")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trained_model() -> Path:
    if os.environ.get("RASA_MODEL"):
        return Path(os.environ["RASA_MODEL"])
    models = sorted((PROJECT_ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        pytest.fail("no trained model: run `make model` (make test does it for you)")
    return models[-1]


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the process and, when it leads its own process group (``start_new_session``), every
    process in that group: Sanic's worker processes outlive a terminated main process otherwise."""
    if _group_alive(process):  # a group with the process's id exists only if it leads one
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    elif process.poll() is None:
        process.send_signal(sig)


def _group_alive(process: subprocess.Popen) -> bool:
    """Whether a live (not zombie) process remains in the group the process leads."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == process.pid and state != "Z":
            return True
    return False


def stop(*processes: subprocess.Popen, timeout: float = 30, kill: bool = False) -> None:
    """Ask servers to stop (or kill them), together, workers included; kill any still running
    after ``timeout`` seconds. No process of a server's group is left behind."""
    for process in processes:
        _signal_group(process, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        while _group_alive(process) and time.monotonic() < deadline:  # its workers, stopping
            time.sleep(0.1)
        if _group_alive(process):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            killed = time.monotonic() + 10
            while _group_alive(process) and time.monotonic() < killed:  # a killed process takes a moment to go
                time.sleep(0.05)


class Postgres:
    """Throw-away databases on the PostgreSQL of the dev and CI machines, all dropped by ``close()``."""

    def __init__(self, admin_url: str = PG_ADMIN_URL) -> None:
        from sqlalchemy import create_engine

        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.base = admin_url.rsplit("/", 1)[0]
        self.names: list[str] = []

    def create(self, purpose: str) -> str:
        """A new empty database; its URL (same driver as the admin URL)."""
        from sqlalchemy import text

        name = f"hz_{purpose}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return f"{self.base}/{name}"

    def close(self) -> None:
        from sqlalchemy import text

        from knowledge.db import get_engine

        for name in self.names:
            get_engine(f"{self.base}/{name}").dispose()  # the knowledge base's cached engine, if any
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.names.clear()
        self.admin.dispose()

    def __enter__(self) -> Postgres:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def plain_postgres_url(url: str) -> str:
    """``postgresql://…`` for Rasa (psycopg2), whatever driver the admin URL names."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


def said(replies: list[dict]) -> str:
    """The text of the bot's replies to one message."""
    return "\n".join(r.get("text", "") for r in replies)


@dataclass
class Stack:
    """Production mode when ``redis_url`` (Redis lock store) and a PostgreSQL ``tracker_store_url``
    are given; Rasa is started by scripts/run-rasa.sh exactly as ``make run`` does."""

    kb_url: str
    workdir: Path
    tracker_store_url: str | None = None  # default: a SQLite file in workdir
    redis_url: str | None = None
    rasa_workers: int = 1
    action_workers: int = 1
    rasa_token: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every process
    rasa_url: str = ""
    web_url: str = ""
    action_url: str = ""
    admin: tuple[str, str] = ADMIN
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    commands: dict[str, list] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        action_port, rasa_port, web_port = free_port(), free_port(), free_port()
        self.environment = {
            **os.environ,
            "DATABASE_URL": self.kb_url,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "ADMIN_USERNAME": ADMIN[0],
            "ADMIN_PASSWORD": ADMIN[1],
            "RASA_MODEL": str(trained_model()),
            "RASA_PORT": str(rasa_port),
            "RASA_INTERFACE": "127.0.0.1",
            "RUN_DIR": str(self.workdir),
            "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
            "TRACKER_STORE_URL": self.tracker_store_url or f"sqlite:///{self.workdir / 'tracker.sqlite3'}",
            "SANIC_WORKERS": str(self.rasa_workers),
            "ACTION_SERVER_SANIC_WORKERS": str(self.action_workers),
            "ACTIONS_WARM_UP": "1",
            "RATE_LIMIT_PER_IP": "0/60",  # every test resident comes from 127.0.0.1; tests that need it set it
            **self.env,
        }
        self.environment.pop("REDIS_URL", None)
        self.environment.pop("RASA_TOKEN", None)
        if self.redis_url:
            self.environment["REDIS_URL"] = self.redis_url
        if self.rasa_token:
            self.environment["RASA_TOKEN"] = self.rasa_token
        self.commands = {
            "actions": [APP_PYTHON, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
            "web": [APP_PYTHON, "-m", "web", "--host", "127.0.0.1", "--port", str(web_port)],
            "rasa": [PROJECT_ROOT / "scripts" / "run-rasa.sh"],
        }
        for name in self.commands:
            self.start_process(name)
        self.rasa_url, self.web_url = f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{web_port}"
        self.action_url = f"http://127.0.0.1:{action_port}"
        self._wait()

    def start_process(self, name: str) -> None:
        with (self.workdir / f"{name}.log").open("ab") as log:  # the child keeps its own handle
            self.processes[name] = subprocess.Popen(
                self.commands[name],
                cwd=PROJECT_ROOT,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches its Sanic workers too
            )

    def stop_process(self, name: str, *, kill: bool = False) -> None:
        stop(self.processes[name], kill=kill)

    def restart_process(self, name: str) -> None:
        self.stop_process(name)
        self.start_process(name)
        self._wait()

    def ask(self, sender: str, message: str, timeout: float = 30) -> list[dict]:
        reply = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=timeout
        )
        reply.raise_for_status()
        return reply.json()

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} ---\n" + (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
            for name in self.processes
        )

    def _wait(self) -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes.values()):
                pytest.fail("a server exited during start-up:\n" + self.logs())
            try:
                web_ok = requests.get(f"{self.web_url}/api/v1/openapi.json", timeout=5).ok
                actions_ok = requests.get(f"{self.action_url}/health", timeout=5).ok
                reply = requests.post(
                    f"{self.rasa_url}/webhooks/rest/webhook",
                    json={"sender": f"probe-{uuid.uuid4().hex[:8]}", "message": "加梯"},
                    timeout=5,
                )
                if web_ok and actions_ok and reply.ok and "来源" in str(reply.json()):
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        pytest.fail("the stack did not come up within 240 s:\n" + self.logs())

    def stop(self) -> None:
        stop(*self.processes.values())
