"""Load benchmark: the whole stack beside a stock-Rasa floor, in the same run on the same machine.

    .venv/app/bin/python -m bench.stack_vs_floor --out docs/bench-load.md

The floor (``bench/floor_model.py``) is stock Rasa with the project's NLU data and pipeline, but
DIET with its default transformer (``bench/floor/config.yml``, as when issue 16 was measured), answering
every intent with a fixed response: no action server, no database, in-memory tracker store. The
stack is Rasa + action server + staff service as ``tests.stack.Stack`` starts them, on its own
SQLite knowledge base; "stack-prod" (only when ``Stack`` has the production options) adds a
PostgreSQL knowledge base and tracker store in throw-away databases, the Redis lock store and
several Rasa workers.

Each round starts every system cold, measures the time from process start to the first reply,
runs the same closed-loop load (``bench/load.py``: 20 residents, 25 questions each in one
conversation, rate limits off), then one resident alone (p50/p95 over REST), then three
conversations of 60 turns one after another (median reply at turns 51–60 beside turns 1–10),
and stops it; rounds
alternate the systems (floor, stack, stack-prod, floor, …) so that drift of a shared machine
hits all of them. The CPU time of each system's processes per answered message is recorded
(the per-core figures of docs/benchmarks.md). The report ends with issue 16's targets, each
PASS or FAIL against the floor of the same run.
Bounded: rounds x systems x (start-up <= 240 s + load <= --max-seconds + request timeouts).
Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import floor_model
from bench.load import LoadResult, one_conversation, percentile, resident_questions, run_load
from bench.profile_summary import summarise
from tests.stack import PG_ADMIN_URL, RASA, Postgres, Stack, free_port, plain_postgres_url, stop

ROOT = floor_model.ROOT
PROD_FIELDS = {"tracker_store_url", "redis_url", "rasa_workers"}
PROBE = "加梯"
STARTUP_LIMIT = 240.0
# The owners' check (issue 16) ran with rate limits off; the per-IP limit is off in tests.stack already.
BENCH_ENV = {"RATE_LIMIT_PER_SENDER": "0/60"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
try:  # the residents' channel answers with this apology when the bot failed or was too slow
    from bot.guard import SORRY as APOLOGY
except ImportError:  # before bot/guard.py
    APOLOGY = "抱歉，系统暂时出了点问题"


class StartError(RuntimeError):
    pass


@dataclass
class Measurement:
    system: str
    round: int
    cold_start: float  # seconds from process start to the first real answer
    load: LoadResult
    stores: str = ""  # tracker and lock store of this run, from its endpoints file
    single: LoadResult | None = None  # one resident alone
    conversations: list[list[float | None]] = dataclasses.field(default_factory=list)  # seconds per turn, per sender
    cpu: dict[str, float] = dataclasses.field(default_factory=dict)  # CPU seconds during the load, per process kind


# --- starting and stopping -------------------------------------------------------------------------------------


def _first_reply(get_url, started: float, alive, expect: str, stop: threading.Event | None = None) -> float:
    """Seconds from ``started`` until a reply of the REST channel contains ``expect`` (polled every 0.1 s)."""
    session = requests.Session()
    sender = f"cold-{uuid.uuid4().hex[:8]}"
    while time.perf_counter() - started < STARTUP_LIMIT and not (stop and stop.is_set()):
        alive()
        url = get_url()
        if url:
            try:
                reply = session.post(
                    f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": PROBE}, timeout=5
                )
                if reply.ok and expect in str(reply.json()):
                    return time.perf_counter() - started
            except (requests.RequestException, ValueError):
                pass
        time.sleep(0.1)
    raise StartError(f"no reply within {STARTUP_LIMIT:.0f} s")


@contextlib.contextmanager
def floor_server(model: Path, workdir: Path) -> Iterator[tuple[str, float, dict[str, int], Path]]:
    """The floor Rasa server on a free loopback port: (url, cold start seconds, pids, endpoints file)."""
    port = free_port()
    command = [str(RASA), "run", "--model", str(model), "--port", str(port), "--interface", "127.0.0.1"]
    command += ["--cors", "*", "--endpoints", str(floor_model.FLOOR / "endpoints.yml")]
    command += ["--credentials", str(floor_model.FLOOR / "credentials.yml")]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    log_path = workdir / "floor.log"
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:

        def alive() -> None:
            if process.poll() is not None:
                raise StartError("the floor Rasa server exited:\n" + log_path.read_text(errors="replace")[-2000:])

        url = f"http://127.0.0.1:{port}"
        cold = _first_reply(lambda: url, started, alive, expect="固定回复")
        yield url, cold, {"rasa": process.pid}, floor_model.FLOOR / "endpoints.yml"
    finally:
        stop(process)


def stack_options(**wanted) -> dict:
    """The keyword arguments of ``Stack`` among ``wanted`` (older versions of Stack lack some)."""
    names = {f.name for f in dataclasses.fields(Stack)}
    return {k: v for k, v in wanted.items() if k in names and v is not None}


def prod_supported() -> bool:
    return PROD_FIELDS.issubset(f.name for f in dataclasses.fields(Stack))


@contextlib.contextmanager
def stack_server(kb_url: str, workdir: Path, options: dict) -> Iterator[tuple[str, float, dict[str, int], Path]]:
    """The whole stack via tests.stack.Stack: (Rasa url, cold start seconds, pids, endpoints file)."""
    stack = Stack(kb_url=kb_url, workdir=workdir, **options)
    stop = threading.Event()
    cold: list[float] = []
    started = time.perf_counter()

    def watch() -> None:  # the same probe as for the floor, while Stack.start() waits for its own
        with contextlib.suppress(StartError):
            cold.append(_first_reply(lambda: stack.rasa_url, started, lambda: None, "来源", stop))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        try:
            stack.start()
        except BaseException as error:  # Stack.start() fails with pytest.fail (an OutcomeException)
            raise StartError(f"the stack did not start: {error}") from None
        watcher.join(timeout=30)
        if not cold:
            raise StartError("the stack started but the cold-start probe got no reply")
        every_worker_loaded(workdir / "rasa.log", stack.rasa_workers)
        yield stack.rasa_url, cold[0], {name: p.pid for name, p in stack.processes.items()}, workdir / "endpoints.yml"
    finally:
        stop.set()
        stack.stop()


def every_worker_loaded(log: Path, workers: int, timeout: float = 180) -> None:
    """Wait until each Rasa worker has loaded its model ("Rasa server is up and running.", once per
    worker). The first answer (cold start) comes from the first worker ready; a second one still
    loading its model would take a core from the measured load, by a different amount each round
    (stack-prod rounds of 46 and 70 msg/s in one run before this wait)."""
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("Rasa server is up and running.") < workers:
        if time.monotonic() > deadline:
            raise StartError(f"not all {workers} Rasa workers loaded their model within {timeout:.0f} s")
        time.sleep(0.2)


def prod_unavailable(redis_url: str) -> str | None:
    """Why stack-prod cannot run here, or None."""
    if not prod_supported():
        return "tests.stack.Stack has no production options (tracker_store_url, redis_url, rasa_workers) yet"
    try:
        import redis
        from sqlalchemy import create_engine, text

        redis.Redis.from_url(redis_url, socket_timeout=3).ping()
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        return f"PostgreSQL or Redis not reachable: {type(error).__name__}: {error}"
    return None


# --- CPU accounting --------------------------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used so far) of every process."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        found[int(stat.parent.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    return found


def cpu_snapshot(pids: dict[str, int]) -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each process of each named server with its descendants (Sanic's
    workers), and by the machine's PostgreSQL and Redis servers ("databases", whoever uses them)."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)

    def tree(pid: int) -> list[int]:
        return [pid, *(p for child in children.get(pid, []) for p in tree(child))] if pid in table else []

    snapshot = {name: {p: table[p][2] for p in tree(pid)} for name, pid in pids.items() if name in ("rasa", "actions")}
    snapshot["databases"] = {p: cpu for p, (_, name, cpu) in table.items() if name in ("postgres", "redis-server")}
    return snapshot


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds each kind of process used between two snapshots (a process that ended meanwhile is missed)."""
    used = {}
    for kind, now in after.items():
        used[kind] = sum(cpu - before.get(kind, {}).get(pid, 0.0) for pid, cpu in now.items())
    return used


# --- profiling -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def profiled(pids: dict[str, int], out: Path) -> Iterator[None]:
    """py-spy (raw collapsed stacks) on each process and its children while the block runs."""
    py_spy = Path(sys.executable).parent / "py-spy"
    out.mkdir(parents=True, exist_ok=True)
    spies = {
        name: subprocess.Popen(
            [str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "100",
             "--format", "raw", "-o", str(out / f"{name}.txt")],
            stdout=subprocess.DEVNULL, stderr=(out / f"{name}.py-spy.log").open("wb"),
        )
        for name, pid in pids.items()
        if name in ("rasa", "actions")
    }  # fmt: skip
    time.sleep(1.0)  # let py-spy attach
    try:
        yield
    finally:
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for spy in spies.values():
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()


# --- the run ---------------------------------------------------------------------------------------------------


def machine() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)
    rasa_version = subprocess.run(
        [str(RASA.parent / "python"), "-c", "import importlib.metadata as m; print(m.version('rasa'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    from importlib.metadata import version

    return [
        f"- CPU: {model}, {os.cpu_count()} logical cores ({len(os.sched_getaffinity(0))} usable by this run)",
        f"- RAM: {mem_kb / 1024 / 1024:.1f} GiB; {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; Rasa {rasa_version}; rasa-sdk {version('rasa_sdk')}",
    ]


def stores(endpoints: Path) -> str:
    """Which tracker and lock store an endpoints file configures."""
    import yaml

    config = (yaml.safe_load(endpoints.read_text(encoding="utf-8")) if endpoints.exists() else None) or {}
    tracker = config.get("tracker_store") or {}
    lock = config.get("lock_store") or {}
    tracker_name = "in-memory" if not tracker else f"{tracker.get('type', '?')} ({tracker.get('dialect', '')})"
    return f"tracker store {tracker_name}, lock store {lock.get('type', 'in-memory')}"


def measure(system: str, round_no: int, server, args: argparse.Namespace, profile_dir: Path | None = None):
    run_id = re.sub(r"[^\w.-]+", "_", f"{system}-{round_no}-{uuid.uuid4().hex[:6]}")
    questions = resident_questions()
    with server as (url, cold, pids, endpoints):
        print(f"[round {round_no}] {system}: first answer after {cold:.1f} s; load …", flush=True)
        with profiled(pids, profile_dir) if profile_dir else contextlib.nullcontext():
            before = cpu_snapshot(pids)
            load = asyncio.run(
                run_load(
                    url,
                    questions,
                    concurrency=args.concurrency,
                    per_sender=args.per_sender,
                    total=args.messages,
                    warmup=args.warmup,
                    max_seconds=args.max_seconds,
                    run_id=run_id,
                    error_markers=[APOLOGY],
                )
            )
            after = cpu_snapshot(pids)
        single = asyncio.run(
            run_load(
                url,
                questions[::-1],  # other questions than the load's, in a fixed order
                concurrency=1,
                per_sender=args.per_sender,
                total=args.single_messages,
                warmup=5,
                max_seconds=args.max_seconds,
                run_id=f"single-{run_id}",
                error_markers=[APOLOGY],
            )
        )
        conversations = []
        for n in range(args.conversations):
            sender = f"long-{n}-{run_id}"
            conversations.append(
                asyncio.run(one_conversation(url, questions, turns=args.conversation_turns, sender=sender,
                                             error_markers=[APOLOGY]))
            )  # fmt: skip
    s = load.summary()
    print(
        f"[round {round_no}] {system}: {s['throughput_msg_s']} msg/s, p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, "
        f"p99 {s['p99_ms']} ms, errors {load.errors} {s['statuses'] or ''} ({s['sent']} sent, stopped by "
        f"{s['stopped_by']}); one resident p50 {single.ms(0.5):.0f} / p95 {single.ms(0.95):.0f} ms; one "
        f"conversation turns 1–10 {turns_median(conversations, 0, 10):.0f} ms, 51–60 "
        f"{turns_median(conversations, 50, 60):.0f} ms",
        flush=True,
    )
    cpu = cpu_used(before, after)
    return Measurement(system, round_no, cold, load, stores(endpoints), single, conversations, cpu)


def turns_median(conversations: list[list[float | None]], start: int, end: int) -> float:
    """Median reply in ms of turns start+1..end over the conversations (answered turns only); NaN if none."""
    answered = [x for turns in conversations for x in turns[start:end] if x is not None]
    return statistics.median(answered) * 1000 if answered else float("nan")


def pooled(runs: list[Measurement]) -> dict:
    latencies = [x for r in runs for x in r.load.latencies]
    duration = sum(r.load.duration for r in runs)
    single = [x for r in runs if r.single for x in r.single.latencies]
    answered = sum(r.load.answered for r in runs)
    conversations = [turns for r in runs for turns in r.conversations]
    cpu = {kind: sum(r.cpu.get(kind, 0.0) for r in runs) * 1000 / answered if answered else float("nan")
           for kind in ("rasa", "actions", "databases")}  # fmt: skip
    return {
        "throughput": answered / duration if duration else 0.0,
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": max(latencies, default=float("nan")) * 1000,
        "errors": " / ".join(
            str(sum(getattr(r.load, kind) for r in runs)) for kind in ("http_errors", "empty", "degraded", "failed")
        ),
        "cold": statistics.median(r.cold_start for r in runs),
        "single_p50": percentile(single, 0.50) * 1000,
        "single_p95": percentile(single, 0.95) * 1000,
        "single_errors": sum(r.single.errors for r in runs if r.single),
        "turns_1_10": turns_median(conversations, 0, 10),
        "turns_51_60": turns_median(conversations, 50, 60),
        "conversation_failed": sum(x is None for turns in conversations for x in turns),
        "cpu_ms": cpu,  # CPU ms per answered message during the load, per kind of process
    }


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def verdict(ok: bool | None) -> str:
    return "**NOT MEASURED**" if ok is None else "**PASS**" if ok else "**FAIL**"


def targets(total: dict[str, dict]) -> list[str]:
    """Issue 16's targets, each against the floor of this run: a markdown table, PASS or FAIL (or
    NOT MEASURED when a system was not run), then how many were met."""
    floor = total["floor"]
    rows: list[tuple[str, str, str, bool | None]] = []

    def target(system: str, name: str, wanted: str, judge) -> None:  # judge(figures) -> (measured, ok)
        if system in total:
            rows.append((name, wanted, *judge(total[system])))
        else:
            rows.append((name, wanted, "not measured in this run", None))

    def throughput(x: dict, least: float) -> tuple[str, bool]:
        thr = ratio(x["throughput"], floor["throughput"])
        return f"{x['throughput']:.1f} vs {floor['throughput']:.1f} msg/s = {thr:.2f}×", thr >= least

    def p95(x: dict) -> tuple[str, bool]:
        share = ratio(x["p95"], floor["p95"])
        return f"{x['p95']:.0f} vs {floor['p95']:.0f} ms = {share:.2f}×", share <= 1.0

    def long(x: dict) -> tuple[str, bool]:
        late = ratio(x["turns_51_60"], x["turns_1_10"])
        of_floor = ratio(floor["turns_51_60"], floor["turns_1_10"])
        measured = f"{x['turns_51_60']:.0f} vs {x['turns_1_10']:.0f} ms = {late:.2f}× (floor {of_floor:.2f}×)"
        return measured, late <= 1.2 and x["conversation_failed"] == 0

    def cold(x: dict) -> tuple[str, bool]:
        extra = x["cold"] - floor["cold"]
        return f"{x['cold']:.1f} s vs {floor['cold']:.1f} s ({extra:+.1f} s)", extra <= 2.0

    target("stack", "stack throughput at 20 residents", "≥ 1.0× floor", lambda x: throughput(x, 1.0))
    target("stack", "stack p95 at 20 residents", "≤ 1.0× floor", p95)
    prod = "stack-prod throughput (2+2 workers, PostgreSQL, Redis)"
    target("stack-prod", prod, "≥ 0.9× floor", lambda x: throughput(x, 0.9))
    for system in ("stack", "stack-prod"):
        target(system, f"{system}: one conversation, median reply at turns 51–60 beside turns 1–10", "≤ 1.2×", long)
    for system in ("stack", "stack-prod"):
        target(system, f"{system} cold start", "≤ floor + 2 s", cold)
    lines = ["| target (issue 16) | wanted | measured in this run | |", "|---|---|---|---|"]
    lines += [f"| {name} | {wanted} | {measured} | {verdict(ok)} |" for name, wanted, measured, ok in rows]
    lines += ["", f"{sum(ok is True for *_, ok in rows)} of {len(rows)} targets met."]
    return lines


def report(runs: list[Measurement], args, setup: dict[str, str], notes: list[str], loads, train) -> str:
    systems = [s for s in ("floor", "stack", "stack-prod") if any(r.system == s for r in runs)]
    total = {s: pooled([r for r in runs if r.system == s]) for s in systems}
    store = {s: next(r.stores for r in runs if r.system == s) for s in systems}
    lines = [
        "# Load benchmark: the whole stack beside a stock-Rasa floor",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.stack_vs_floor`: {args.rounds} "
        f"round{'s' if args.rounds > 1 else ''}, "
        f"the systems in this order in every round: {', '.join(systems)}.",
        "",
        *machine(),
        f"- Load average (1 min) at start / end: {loads[0]:.2f} / {loads[1]:.2f}",
        "",
    ]
    if "floor" in total:
        lines += [*targets(total), ""]
    lines += [
        f"**Load**: {args.concurrency} residents in a closed loop: each sends its next question only after the reply "
        f"to the previous one has arrived. Each resident asks {args.per_sender} questions in one conversation (its "
        f"own sender id) and is then replaced by a new one. Each system and round gets {args.warmup} warm-up "
        f"messages, then {args.messages} counted ones (cap {args.max_seconds:.0f} s). Rate limits are off. The "
        "questions come from `tests/nlu_eval.yml` (all topics, in a fixed mixed order) and are sent over the REST "
        "channel. Latencies are over the HTTP 200 replies, pooled over the rounds. Cold start is the time from "
        "process start to the first real answer (median of the rounds); the load starts once every Rasa worker "
        "has loaded its model. Then, on the same running system: "
        f"**one resident** alone asks {args.single_messages} questions ({args.per_sender} per conversation), and "
        f"**{args.conversations} conversations** of {args.conversation_turns} questions each, one after another, "
        "each under its own sender id (medians over all of them).",
        "",
        "Systems:",
        "",
    ]
    for s in systems:
        lines.append(f"- **{s}**: {setup[s]}; {store[s]}.")
    lines += [
        "",
        "| system | throughput msg/s | p50 ms | p95 ms | p99 ms | max ms | errors: non-200 / empty / apology / failed "
        "| cold start s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in systems:
        t = total[s]
        lines.append(
            f"| {s} | {t['throughput']:.1f} | {t['p50']:.0f} | {t['p95']:.0f} | {t['p99']:.0f} | {t['max']:.0f} "
            f"| {t['errors']} | {t['cold']:.1f} |"
        )
    lines += [
        "",
        "| system | one resident: p50 ms | p95 ms | errors | one conversation: turns 1–10 median ms "
        "| turns 51–60 median ms | ratio | CPU per message at 20 residents: Rasa ms | action server ms "
        "| PostgreSQL + Redis ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in systems:
        t, cpu = total[s], total[s]["cpu_ms"]
        lines.append(
            f"| {s} | {t['single_p50']:.0f} | {t['single_p95']:.0f} | {t['single_errors']} | {t['turns_1_10']:.0f} "
            f"| {t['turns_51_60']:.0f} | {ratio(t['turns_51_60'], t['turns_1_10']):.2f}× | {cpu['rasa']:.1f} "
            f"| {cpu['actions']:.1f} | {cpu['databases']:.1f} |"
        )
    lines += [
        "",
        "Per round:",
        "",
        "| round | system | sent | seconds | msg/s | p50 ms | p95 ms | p99 ms | errors | cold start s | stopped by |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        x = r.load.summary()
        lines.append(
            f"| {r.round} | {r.system} | {x['sent']} | {x['duration_s']:.1f} | {x['throughput_msg_s']:.1f} "
            f"| {x['p50_ms']:.0f} | {x['p95_ms']:.0f} | {x['p99_ms']:.0f} | {r.load.errors} | {r.cold_start:.1f} "
            f"| {x['stopped_by']} |"
        )
    lines += ["", *train, ""]
    lines += [f"Note: {n}" for n in notes]
    lines.append(
        "Note: absolute figures depend on the machine and, on a shared machine, on what else runs (see the load "
        "average). The targets compare ratios within one run. CPU per message is the CPU time of each system's "
        "processes (with their workers) during the 20-resident load divided by the messages answered; "
        '"PostgreSQL + Redis" counts the machine\'s database servers, whoever uses them.'
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--per-sender", type=int, default=25, help="questions before a resident is replaced")
    parser.add_argument("--messages", type=int, default=600, help="counted messages per system and round")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--single-messages", type=int, default=60, help="questions of the lone resident")
    parser.add_argument("--conversation-turns", type=int, default=60, help="questions of each long conversation")
    parser.add_argument("--conversations", type=int, default=3, help="long conversations, one after another")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="wall-clock cap of each load phase")
    parser.add_argument("--systems", default="floor,stack,stack-prod", help="comma-separated subset, in round order")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--prod-rasa-workers", type=int, default=2)
    parser.add_argument("--prod-action-workers", type=int, default=2)  # as make run PROFILE=prod
    parser.add_argument("--train-times", action="store_true", help="also time `rasa train` of both models")
    parser.add_argument("--profile", type=Path, default=None, help="directory: an extra, uncounted round under py-spy")
    parser.add_argument("--profile-system", choices=["floor", "stack", "stack-prod"], default="stack")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not set(wanted) <= {"floor", "stack", "stack-prod"} or args.rounds < (0 if args.profile else 1):
        parser.error("--systems: floor, stack, stack-prod; --rounds >= 1 (0 only with --profile)")

    os.environ.setdefault("ACTIONS_WARM_UP", "1")  # as the Procfile starts the action server
    floor = floor_model.ensure_floor_model()
    main_model = floor_model.ensure_main_model()
    os.environ["RASA_MODEL"] = str(main_model.path)  # the stack must not pick the floor or a stale model
    train = ["Training (`rasa train`):", ""]
    for name, model in (("floor", floor), ("main", main_model)):
        recorded = floor_model.recorded_training_seconds(model.path)
        if model.train_seconds is not None:
            done = f"trained in this run in {model.train_seconds:.0f} s"
        elif recorded is not None:
            done = f"already trained; training took {recorded:.0f} s when it was trained"
        else:
            done = "already trained (training time not recorded)"
        train.append(f"- {name} model `{model.path.relative_to(ROOT)}`: {done}")
    if args.train_times:
        print("timing rasa train of both models …", flush=True)
        times = floor_model.measure_training()
        train.append(
            f"- both trained from scratch in this run: floor {times['floor']:.0f} s, main {times['main']:.0f} s"
        )

    notes: list[str] = []
    if "stack-prod" in wanted and (why := prod_unavailable(args.redis_url)):
        wanted.remove("stack-prod")
        notes.append(f"stack-prod not measured: {why}.")
        print(f"stack-prod skipped: {why}", flush=True)
    setup = {
        "floor": "stock Rasa with the project's NLU data and pipeline but stock DIET (bench/floor/config.yml), "
        "one fixed response per intent; no action "
        "server, no database",
        "stack": "Rasa + action server + staff service as `tests.stack.Stack` starts them (the residents' REST "
        "channel of credentials.yml, the answer action), SQLite knowledge base, one Rasa and one action-server "
        "worker, action server warmed up at start",
        "stack-prod": f"the same with a PostgreSQL knowledge base and tracker store (throw-away databases), "
        f"the Redis lock store ({args.redis_url}), {args.prod_rasa_workers} Rasa workers, "
        f"{args.prod_action_workers} action-server worker{'s' if args.prod_action_workers > 1 else ''}",
    }

    from knowledge.build import build

    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    kb_url = f"sqlite:///{workdir / 'kb.sqlite3'}"
    build(url=kb_url)
    if args.profile and args.profile_system == "stack-prod" and (why := prod_unavailable(args.redis_url)):
        parser.error(f"--profile-system stack-prod: {why}")
    postgres = Postgres() if "stack-prod" in [*wanted, args.profile and args.profile_system] else None
    runs: list[Measurement] = []
    load_before = os.getloadavg()[0]
    try:
        pg_kb = None
        if postgres:
            pg_kb = postgres.create("kb")
            build(url=pg_kb)

        def server(system: str, round_dir: Path):
            if system == "floor":
                return floor_server(floor.path, round_dir)
            if system == "stack":
                return stack_server(kb_url, round_dir, stack_options(env=BENCH_ENV))
            options = stack_options(
                tracker_store_url=plain_postgres_url(postgres.create("tracker")),
                redis_url=args.redis_url,
                rasa_workers=args.prod_rasa_workers,
                action_workers=args.prod_action_workers,
                env=BENCH_ENV,
            )
            return stack_server(pg_kb, round_dir, options)

        for round_no in range(1, args.rounds + 1):
            for system in wanted:
                round_dir = workdir / f"{system}-{round_no}"
                round_dir.mkdir()
                runs.append(measure(system, round_no, server(system, round_dir), args))
        load_after = os.getloadavg()[0]
        if args.profile:
            print(f"profiling an extra {args.profile_system} round (not counted) …", flush=True)
            round_dir = workdir / "profile"
            round_dir.mkdir()
            system = args.profile_system
            measure(f"{system} (profiled)", 0, server(system, round_dir), args, profile_dir=args.profile)
            for name in ("rasa", "actions"):
                if (args.profile / f"{name}.txt").exists():
                    summary = summarise(args.profile / f"{name}.txt", name)
                    (args.profile / f"{name}.md").write_text(summary, encoding="utf-8")
                    print(summary)
    except StartError as error:
        sys.exit(f"{error}\n(logs under {workdir})")
    finally:
        if postgres:
            postgres.close()
    if runs:
        text = report(runs, args, setup, notes, (load_before, load_after), train)
        print(text)
        if args.out:
            args.out.write_text(text, encoding="utf-8")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
