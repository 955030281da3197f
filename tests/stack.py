"""The whole stack as real processes: action server, Rasa server and staff web service."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from knowledge.settings import PROJECT_ROOT

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


@dataclass
class Stack:
    kb_url: str
    workdir: Path
    rasa_url: str = ""
    web_url: str = ""
    admin: tuple[str, str] = ADMIN
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self) -> None:
        action_port, rasa_port, web_port = free_port(), free_port(), free_port()
        endpoints = self.workdir / "endpoints.yml"
        endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n', encoding="utf-8")
        env = {
            **os.environ,
            "DATABASE_URL": self.kb_url,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "ADMIN_USERNAME": ADMIN[0],
            "ADMIN_PASSWORD": ADMIN[1],
        }
        commands = {
            "actions": [APP_PYTHON, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
            "web": [APP_PYTHON, "-m", "web", "--host", "127.0.0.1", "--port", str(web_port)],
            "rasa": [RASA, "run", "--model", trained_model(), "--port", str(rasa_port), "--interface", "127.0.0.1",
                     "--cors", "*", "--endpoints", endpoints, "--credentials", PROJECT_ROOT / "credentials.yml"],
        }  # fmt: skip
        for name, command in commands.items():
            with (self.workdir / f"{name}.log").open("wb") as log:  # the child keeps its own handle
                self.processes[name] = subprocess.Popen(
                    command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
        self.rasa_url, self.web_url = f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{web_port}"
        self._wait()

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
                reply = requests.post(
                    f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": "probe", "message": "加梯"}, timeout=5
                )
                if web_ok and reply.ok and reply.json():
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        pytest.fail("the stack did not come up within 240 s:\n" + self.logs())

    def stop(self) -> None:
        for p in self.processes.values():
            p.terminate()
        for p in self.processes.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
