"""``make run`` under supervisord: a crashed process is started again and the others keep serving.

The stack is started as the Makefile's run target starts it (``supervisord -c supervisord.conf`` with
RUN_DIR and RASA_MODEL set), on free ports, with a temporary RUN_DIR and a fresh SQLite knowledge base.
The action server is killed with SIGKILL; residents get cited answers again within 30 s, while Rasa and
the staff service keep their process ids. SIGINT to supervisord (what Ctrl-C sends) then stops
everything, and no process of the stack is left.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from knowledge.build import build
from knowledge.settings import PROJECT_ROOT
from tests.stack import ADMIN, free_port, said, trained_model

pytestmark = pytest.mark.e2e

SUPERVISORD = PROJECT_ROOT / ".venv" / "app" / "bin" / "supervisord"
SUPERVISORCTL = PROJECT_ROOT / ".venv" / "app" / "bin" / "supervisorctl"
CONFIG = PROJECT_ROOT / "supervisord.conf"
PROGRAMS = ("actions", "rasa", "web")


@dataclass
class Supervised:
    process: subprocess.Popen
    env: dict[str, str]
    workdir: Path
    rasa_url: str
    web_url: str
    action_url: str

    def output(self) -> str:
        return (self.workdir / "terminal.log").read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """Each program's process id, as supervisord reports it (0: not running)."""
        pids = {}
        for name in PROGRAMS:
            done = subprocess.run(
                [SUPERVISORCTL, "-c", CONFIG, "pid", name], env=self.env, capture_output=True, text=True, timeout=30
            )
            pids[name] = int(done.stdout.strip()) if done.stdout.strip().isdigit() else 0
        return pids

    def ask(self, message: str, timeout: float = 15) -> str:
        reply = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": f"resident-{uuid.uuid4().hex[:8]}", "message": message},
            timeout=timeout,
        )
        reply.raise_for_status()
        return said(reply.json())


def processes_of(workdir: Path) -> list[int]:
    """Every process whose environment names this RUN_DIR: supervisord and everything it started."""
    marker = f"RUN_DIR={workdir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def makefile_run_recipe() -> str:
    text = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^run:.*\n((?:\t.*\n)+)", text, flags=re.M)
    assert match, "the Makefile has a run target"
    return match.group(1)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Supervised]:
    if not SUPERVISORD.exists():
        pytest.fail("supervisord is missing from .venv/app: make setup installs requirements/app.txt")
    kb_url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    build(url=kb_url)
    action_port, rasa_port, web_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "RUN_DIR": str(tmp_path),
        "RASA_MODEL": str(trained_model()),
        "DATABASE_URL": kb_url,
        "TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.sqlite3'}",
        "RASA_PORT": str(rasa_port),
        "ACTION_PORT": str(action_port),
        "WEB_PORT": str(web_port),
        "ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}/webhook",
        "ADMIN_USERNAME": ADMIN[0],
        "ADMIN_PASSWORD": ADMIN[1],
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RATE_LIMIT_PER_IP": "0/60",
    }
    for name in ("REDIS_URL", "RASA_TOKEN", "RASA_INTERFACE", "WEB_HOST", "ACTION_HOST", "SANIC_WORKERS"):
        env.pop(name, None)  # the embedded defaults of `make run`
    with (tmp_path / "terminal.log").open("wb") as terminal:
        process = subprocess.Popen(
            [SUPERVISORD, "-c", CONFIG], cwd=PROJECT_ROOT, env=env, stdout=terminal, stderr=subprocess.STDOUT
        )
    stack = Supervised(
        process, env, tmp_path, f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{web_port}",
        f"http://127.0.0.1:{action_port}",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert process.poll() is None, "supervisord exited:\n" + stack.output()[-3000:]
            try:
                if (
                    requests.get(f"{stack.web_url}/api/v1/openapi.json", timeout=5).ok
                    and requests.get(f"{stack.action_url}/health", timeout=5).ok
                    and "来源" in stack.ask("加梯", timeout=10)
                ):
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        else:
            pytest.fail("the supervised stack did not come up within 300 s:\n" + stack.output()[-3000:])
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in processes_of(tmp_path):  # only if the test failed half-way: never leave a server behind
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def test_make_run_starts_supervisord_with_this_config() -> None:
    recipe = makefile_run_recipe()
    assert "supervisord -c supervisord.conf" in recipe and "RUN_DIR" in recipe and "RASA_MODEL" in recipe
    assert "honcho" not in recipe
    config = CONFIG.read_text(encoding="utf-8")
    for name in PROGRAMS:
        section = config.split(f"[program:{name}]", 1)[1].split("\n[", 1)[0]
        assert re.search(r"^autorestart = true$", section, flags=re.M), name
        assert re.search(r"^stopasgroup = true$", section, flags=re.M), name  # Sanic workers stop too
        assert "stdout_logfile = /dev/stdout" in section, name  # logs stay on the terminal
        assert "exec " in section, name  # supervisord watches the server, not a shell
    # the make-run path listens on this machine only (containers set 0.0.0.0 themselves)
    assert 'RASA_INTERFACE="${RASA_INTERFACE:-127.0.0.1}"' in config
    assert '--host "${WEB_HOST:-127.0.0.1}"' in config and 'SANIC_HOST="${ACTION_HOST:-127.0.0.1}"' in config


def test_a_killed_action_server_is_restarted_while_rasa_and_web_keep_serving(supervised: Supervised) -> None:
    before = supervised.pids()
    assert all(before.values()), before
    assert "来源" in supervised.ask("蓝领公寓")

    os.kill(before["actions"], signal.SIGKILL)
    killed_at = time.monotonic()
    answer = ""
    while time.monotonic() - killed_at < 30:
        try:
            answer = supervised.ask("蓝领公寓", timeout=10)
            if "来源" in answer and supervised.pids()["actions"] not in (0, before["actions"]):
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    recovered = time.monotonic() - killed_at
    print(f"cited answers again {recovered:.1f} s after kill -9 of the action server")
    assert "来源" in answer, f"no cited answer {recovered:.0f} s after the kill:\n" + supervised.output()[-3000:]
    assert recovered < 30

    after = supervised.pids()
    assert after["actions"] not in (0, before["actions"])
    assert (after["rasa"], after["web"]) == (before["rasa"], before["web"]), "Rasa and web were not restarted"
    assert requests.get(f"{supervised.web_url}/api/v1/openapi.json", timeout=10).ok
    output = supervised.output()
    assert "exited: actions (terminated by SIGKILL; not expected)" in output
    assert "exited: rasa" not in output and "exited: web" not in output
    # each process's own output reaches the terminal, not only supervisord's lines
    assert "Action endpoint is up and running" in output and "Running on http://127.0.0.1" in output

    # Ctrl-C: SIGINT to supervisord stops everything, Sanic workers included
    tree = processes_of(supervised.workdir)
    assert len(tree) >= 4, tree  # supervisord and its three servers
    supervised.process.send_signal(signal.SIGINT)
    assert supervised.process.wait(timeout=90) == 0
    deadline = time.monotonic() + 10
    while processes_of(supervised.workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(supervised.workdir) == [], "a process of the stack outlived Ctrl-C"
    for url in (supervised.rasa_url, supervised.web_url, supervised.action_url):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)
