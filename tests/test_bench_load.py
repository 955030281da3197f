"""The load generator of `make bench` against a small fake REST channel, the floor bot's domain, the
targets of issue 16 judged against the floor, and the CPU accounting."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
import yaml
from aiohttp import web

from bench import floor_model
from bench.load import check_loopback, percentile, resident_questions, run_load
from tests.stack import free_port


class FakeRasa:
    """Answers by the message: "ok" → one bot message, "empty" → [], "fail" → 500, "sorry" → the channel's
    apology, "slow" → after 0.2 s."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.in_flight: Counter[str] = Counter()
        self.max_per_sender = 0
        self.max_total = 0

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender, message = body["sender"], body["message"]
        self.received.append((sender, message))
        self.in_flight[sender] += 1
        self.max_per_sender = max(self.max_per_sender, self.in_flight[sender])
        self.max_total = max(self.max_total, sum(self.in_flight.values()))
        try:
            await asyncio.sleep(0.2 if message == "slow" else 0.005)
            if message == "fail":
                return web.json_response({"error": "boom"}, status=500)
            if message == "empty":
                return web.json_response([])
            text = "抱歉，系统暂时出了点问题" if message == "sorry" else "好的"
            return web.json_response([{"recipient_id": sender, "text": text}])
        finally:
            self.in_flight[sender] -= 1


@pytest.fixture
async def fake():
    server = FakeRasa()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", server.webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server.url = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


async def test_closed_loop_counts_every_kind_of_reply(fake: FakeRasa):
    result = await run_load(
        fake.url,
        ["ok", "empty", "fail", "sorry"],
        concurrency=4,
        per_sender=3,
        total=40,
        warmup=6,
        max_seconds=60,
        error_markers=["系统暂时出了点问题"],
    )
    assert len(fake.received) == 46  # warm-up + counted, nothing more
    assert fake.max_per_sender == 1  # closed loop: a resident waits for its reply
    assert 2 <= fake.max_total <= 4
    per_sender = Counter(s for s, _ in fake.received if s.startswith("load-"))
    assert sum(per_sender.values()) == 40 and max(per_sender.values()) <= 3 and len(per_sender) >= 14
    assert any(s.startswith("warm-") for s, _ in fake.received)
    assert Counter(m for s, m in fake.received if s.startswith("load-")) == dict.fromkeys(
        ["ok", "empty", "fail", "sorry"], 10
    )
    assert result.stopped_by == "messages"
    assert (result.sent, result.ok, result.empty, result.degraded, result.http_errors, result.failed) == (
        40,
        10,
        10,
        10,
        10,
        0,
    )
    assert result.statuses == {500: 10}
    assert result.errors == 30 and result.answered == 30
    assert len(result.latencies) == 30  # the HTTP 200 replies
    assert result.throughput > 0 and result.ms(0.5) <= result.ms(0.95) <= result.ms(0.99)


async def test_wall_clock_cap_stops_sending(fake: FakeRasa):
    result = await run_load(fake.url, ["slow"], concurrency=2, total=10_000, warmup=0, max_seconds=0.5)
    assert result.stopped_by == "time"
    assert 2 <= result.sent < 100
    assert len(fake.received) == result.sent


async def test_connection_failures_are_counted_not_raised():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = await run_load(url, ["ok"], concurrency=2, total=5, warmup=2, max_seconds=30, request_timeout=5)
    assert (result.sent, result.failed, result.ok) == (5, 5, 0)
    assert result.latencies == [] and result.throughput == 0


@pytest.mark.parametrize(
    "url", ["http://example.com", "http://10.0.0.5:5005", "ftp://127.0.0.1:21", "http://127.0.0.1.example.com"]
)
async def test_refuses_non_loopback_urls(url: str):
    with pytest.raises(ValueError):
        check_loopback(url)
    with pytest.raises(ValueError):
        await run_load(url, ["ok"], total=1, warmup=0)


def test_accepts_loopback_urls():
    assert check_loopback("http://127.0.0.1:5005/") == "http://127.0.0.1:5005"
    assert check_loopback("http://localhost:5005") == "http://localhost:5005"
    assert check_loopback("http://[::1]:5005") == "http://[::1]:5005"
    assert check_loopback("http://127.0.0.2:5005") == "http://127.0.0.2:5005"


def test_questions_are_fixed_and_mix_topics():
    questions = resident_questions()
    assert questions == resident_questions()
    data = yaml.safe_load((floor_model.ROOT / "tests" / "nlu_eval.yml").read_text(encoding="utf-8"))
    per_intent = {
        b["intent"]: [x[2:].strip() for x in b["examples"].splitlines() if x.startswith("- ")] for b in data["nlu"]
    }
    assert sorted(questions) == sorted(q for qs in per_intent.values() for q in qs)
    first_40 = set(questions[:40])
    assert sum(1 for qs in per_intent.values() if first_40 & set(qs)) >= 5  # topics are mixed, not in blocks


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50 and percentile(values, 0.95) == 95 and percentile(values, 0.99) == 99
    assert percentile([3.0], 0.99) == 3.0


def test_floor_domain_lists_exactly_the_project_intents():
    project = yaml.safe_load((floor_model.ROOT / "domain.yml").read_text(encoding="utf-8"))
    intents = [i if isinstance(i, str) else next(iter(i)) for i in project["intents"]]
    floor = yaml.safe_load(floor_model.FLOOR_DOMAIN.read_text(encoding="utf-8"))
    assert floor["intents"] == intents, "run `.venv/app/bin/python -m bench.floor_model` to regenerate bench/floor/"
    rules = yaml.safe_load(floor_model.FLOOR_RULES.read_text(encoding="utf-8"))["rules"]
    answered = {r["steps"][0]["intent"]: r["steps"][1]["action"] for r in rules}
    assert answered == {i: f"utter_{i}" for i in [*intents, "nlu_fallback"]}
    assert all(floor["responses"][a][0]["text"] for a in answered.values())  # fixed responses, no custom action
    assert "actions" not in floor and "slots" not in floor
    assert floor_model.FLOOR_DOMAIN.read_text(encoding="utf-8") == floor_model.render_domain()
    assert floor_model.FLOOR_RULES.read_text(encoding="utf-8") == floor_model.render_rules()


def test_floor_keeps_the_stock_classifier_and_otherwise_the_projects_pipeline():
    """The floor stays stock Rasa (DIET with its default transformer); every other component and the
    policies are the project's, so the ratio measures our answers and our cheaper classifier only."""
    floor = yaml.safe_load(floor_model.FLOOR_CONFIG.read_text(encoding="utf-8"))
    ours = yaml.safe_load((floor_model.ROOT / "config.yml").read_text(encoding="utf-8"))
    diet = [c for c in floor["pipeline"] if c["name"] == "DIETClassifier"]
    assert len(diet) == 1 and "number_of_transformer_layers" not in diet[0]  # Rasa's default: 2 layers
    others = [c for c in floor["pipeline"] if c["name"] != "DIETClassifier"]
    assert others == [c for c in ours["pipeline"] if c["name"] != "DIETClassifier"]
    assert floor["policies"] == ours["policies"] and floor["language"] == ours["language"]
    assert floor_model.FLOOR_CONFIG.read_text(encoding="utf-8") == floor_model.render_config()


def test_floor_has_no_action_server_nor_stores():
    endpoints = yaml.safe_load((floor_model.FLOOR / "endpoints.yml").read_text(encoding="utf-8"))
    assert not endpoints  # default (in-memory) tracker and lock stores, no action endpoint
    credentials = yaml.safe_load((floor_model.FLOOR / "credentials.yml").read_text(encoding="utf-8"))
    assert list(credentials) == ["rest"]


def test_floor_model_is_named_by_its_inputs(tmp_path):
    path = floor_model.floor_model_path()
    assert path.parent == floor_model.FLOOR_MODELS != floor_model.ROOT / "models"  # not among the stack's models
    assert path.name == f"floor-{floor_model.inputs_hash(floor_model.floor_inputs())}.tar.gz"
    inputs = floor_model.floor_inputs()
    floor_files = ("bench/floor/config.yml", "bench/floor/domain.yml", "bench/floor/data/rules.yml")
    for expected in (*floor_files, "data/nlu/elevator.yml"):
        assert floor_model.ROOT / expected in inputs
    assert any(p.parent == floor_model.ROOT / "data" / "dicts" for p in inputs)
    (tmp_path / "a.yml").write_text("x: 1\n")
    (tmp_path / "b.txt").write_text("加梯\n")
    files = [tmp_path / "a.yml", tmp_path / "b.txt"]
    before = floor_model.inputs_hash(files, tmp_path)
    assert floor_model.inputs_hash(files, tmp_path) == before
    (tmp_path / "b.txt").write_text("加装电梯\n")
    assert floor_model.inputs_hash(files, tmp_path) != before


def test_profile_summary_counts_busy_samples_only(tmp_path):
    from bench.profile_summary import summarise

    raw = tmp_path / "rasa.txt"
    raw.write_text(
        'process 1:"rasa run";serve (sanic/server/runners.py:155) 60\n'
        'process 1:"rasa run";serve (sanic/server/runners.py:155);handle_message (rasa/core/processor.py:169);'
        "run (rasa/core/actions/action.py:790);_validate_action_result (rasa/core/actions/action.py:704);"
        "check_schema (jsonschema/validators.py:230) 30\n"
        'process 1:"rasa run";serve (sanic/server/runners.py:155);handle_message (rasa/core/processor.py:169);'
        "save (rasa/core/tracker_store.py:1300);do_commit (sqlalchemy/engine/default.py:686) 10\n",
        encoding="utf-8",
    )
    text = summarise(raw, "rasa")
    assert "100 samples, 40 % busy" in text
    assert "| 100.0 % | message handling" in text
    assert "| 75.0 % | - of which jsonschema check_schema" in text
    assert "| 25.0 % | tracker store: save |" in text
    assert "| 75.0 % | `check_schema (jsonschema/validators.py)` |" in text
    assert "DIET" not in text  # categories without samples are left out


async def test_one_conversation_is_one_sender_one_message_at_a_time(fake: FakeRasa):
    from bench.load import one_conversation

    messages = ["ok", "ok", "fail", "sorry", "empty"]
    sorry = ["系统暂时出了点问题"]
    latencies = await one_conversation(fake.url, messages, turns=12, sender="long-1", error_markers=sorry)
    assert len(latencies) == 12 and fake.max_total == 1
    assert {sender for sender, _ in fake.received} == {"long-1"}
    assert [m for _, m in fake.received] == (messages * 3)[:12]
    answered = [x is not None for x in latencies]
    assert answered == ([True, True, False, False, False] * 3)[:12]  # errors, apologies and empty replies: None


def pooled_figures(throughput: float, p95: float, cold: float, early: float, late: float, failed: int = 0) -> dict:
    return {"throughput": throughput, "p95": p95, "cold": cold, "turns_1_10": early, "turns_51_60": late,
            "conversation_failed": failed}  # fmt: skip


def test_every_target_of_issue_16_is_judged_against_the_floor():
    from bench.stack_vs_floor import targets

    floor = pooled_figures(50.0, 400.0, 15.0, 10.0, 40.0)
    total = {
        "floor": floor,
        "stack": pooled_figures(50.0, 400.0, 17.0, 30.0, 36.0),  # all just met
        "stack-prod": pooled_figures(44.0, 900.0, 17.5, 30.0, 37.0),  # 0.88×, +2.5 s, 1.23×
    }
    text = "\n".join(targets(total))
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "PASS" in rows["stack throughput at 20 residents"] and "1.00×" in rows["stack throughput at 20 residents"]
    assert "PASS" in rows["stack p95 at 20 residents"]
    assert "FAIL" in rows["stack-prod throughput (2+2 workers, PostgreSQL, Redis)"]
    assert "PASS" in rows["stack: one conversation, median reply at turns 51–60 beside turns 1–10"]
    assert "FAIL" in rows["stack-prod: one conversation, median reply at turns 51–60 beside turns 1–10"]
    assert "PASS" in rows["stack cold start"] and "FAIL" in rows["stack-prod cold start"]
    assert "4 of 7 targets met." in text
    failed_turn = {**total, "stack": pooled_figures(50.0, 400.0, 17.0, 30.0, 30.0, failed=1)}
    assert "FAIL" in "\n".join(targets(failed_turn)).split("stack: one conversation")[1].splitlines()[0]
    without_prod = "\n".join(targets({"floor": floor, "stack": total["stack"]}))
    assert without_prod.count("NOT MEASURED") == 3 and "4 of 7 targets met." in without_prod


def test_cpu_time_is_counted_per_process_with_its_children():
    import os
    import subprocess
    import sys

    from bench.stack_vs_floor import cpu_snapshot, cpu_used

    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        before = cpu_snapshot({"rasa": os.getpid()})
        sum(i * i for i in range(3_000_000))  # this process's own CPU, while its child spins
        after = cpu_snapshot({"rasa": os.getpid()})
    finally:
        child.kill()
        child.wait()
    assert child.pid in after["rasa"] and os.getpid() in after["rasa"]
    used = cpu_used(before, after)
    assert used["rasa"] > 0 and used["databases"] >= 0
    assert cpu_used({"databases": {1: 5.0}}, {"databases": {2: 1.0}})["databases"] == 1.0  # 1 ended, 2 new


def test_turn_windows_pool_every_conversation_and_skip_failed_turns():
    from bench.stack_vs_floor import turns_median

    conversations = [[0.010] * 10 + [None] * 50, [0.030] * 9 + [None] + [0.050] * 50]
    assert turns_median(conversations, 0, 10) == pytest.approx(10.0)  # 10 of 10 ms and 9 of 30 ms
    assert turns_median(conversations, 50, 60) == pytest.approx(50.0)
    assert turns_median([[None] * 60], 50, 60) != turns_median([[None] * 60], 50, 60)  # NaN: nothing answered
