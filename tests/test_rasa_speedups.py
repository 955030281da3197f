"""bot/rasa_speedups.py in Rasa's own environment: same validation, validator built once; WAL tracker store."""

import subprocess
import textwrap

from knowledge.settings import PROJECT_ROOT

RASA_PYTHON = PROJECT_ROOT / ".venv" / "rasa" / "bin" / "python"


def run_in_rasa_env(code: str, tmp_path) -> str:
    result = subprocess.run(
        [RASA_PYTHON, "-c", textwrap.dedent(code)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={"RASA_TELEMETRY_ENABLED": "false", "TMP": str(tmp_path), "PATH": "/usr/bin:/bin",
             "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_action_responses_are_still_validated_with_a_schema_checked_once(tmp_path):
    out = run_in_rasa_env(
        """
        from unittest import mock
        from jsonschema import ValidationError
        from jsonschema.validators import validator_for
        from rasa.core.actions.action import RemoteAction
        from rasa.utils.endpoints import EndpointConfig
        from bot import rasa_speedups

        action = RemoteAction("action_answer", EndpointConfig("http://x"))
        bad = [{"events": "not a list"}, {"responses": [{"text": 5}]}, {"events": [{"no_event_key": 1}]}]
        good = {"events": [{"event": "slot", "name": "topic", "value": "hukou"}], "responses": [{"text": "ok"}]}
        schema_class = validator_for(RemoteAction.action_response_format_spec())

        def outcomes():
            seen = []
            for result in bad:
                try:
                    action._validate_action_result(result)
                    seen.append("accepted")
                except ValidationError as e:
                    seen.append("rejected")
            return seen

        with mock.patch.object(schema_class, "check_schema", wraps=schema_class.check_schema) as check:
            for _ in range(3):
                assert action._validate_action_result(good)
            print("stock", outcomes(), "checks", check.call_count)
        rasa_speedups.apply()
        with mock.patch.object(schema_class, "check_schema", wraps=schema_class.check_schema) as check:
            for _ in range(3):
                assert action._validate_action_result(good)
            print("patched", outcomes(), "checks", check.call_count)
        """,
        tmp_path,
    )
    stock, patched = out.strip().splitlines()
    stock_outcomes, stock_checks = stock.removeprefix("stock ").rsplit(" checks ", 1)
    patched_outcomes, patched_checks = patched.removeprefix("patched ").rsplit(" checks ", 1)
    assert stock_outcomes == patched_outcomes and "rejected" in patched_outcomes
    assert int(stock_checks) >= 6  # stock Rasa checks the schema on every call
    assert int(patched_checks) <= 1  # once, when the validator is built


def test_sqlite_tracker_store_runs_in_wal_mode(tmp_path):
    out = run_in_rasa_env(
        f"""
        import asyncio
        from rasa.shared.core.domain import Domain
        from rasa.shared.core.events import UserUttered
        from rasa.shared.core.trackers import DialogueStateTracker
        from bot.rasa_speedups import TunedSQLTrackerStore

        store = TunedSQLTrackerStore(domain=Domain.empty(), dialect="sqlite", db="{tmp_path}/tracker.sqlite3")
        tracker = DialogueStateTracker.from_events("a", [UserUttered("托位")])
        asyncio.run(store.save(tracker))
        with store.engine.connect() as conn:
            print(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
        print(asyncio.run(store.retrieve("a")).latest_message.text)
        """,
        tmp_path,
    )
    assert out.split() == ["wal", "托位"]


def test_event_types_resolve_as_in_rasa(tmp_path):
    out = run_in_rasa_env(
        """
        from rasa.shared.core.events import Event
        from rasa.shared.utils.common import all_subclasses
        from bot import rasa_speedups

        names = sorted({cls.type_name for cls in all_subclasses(Event)})
        stock = [Event.resolve_by_type(n) for n in names]
        rasa_speedups.apply()
        assert [Event.resolve_by_type(n) for n in names] == stock
        assert Event.resolve_by_type("no_such_event", default=int) is int
        try:
            Event.resolve_by_type("no_such_event")
        except ValueError:
            print("ok", len(names))
        """,
        tmp_path,
    )
    assert out.startswith("ok ") and int(out.split()[1]) > 20


def test_postgresql_tracker_store_commits_without_waiting_for_the_disk(tmp_path, pg_url):
    database = pg_url.rsplit("/", 1)[1]
    out = run_in_rasa_env(
        f"""
        import asyncio
        from rasa.shared.core.domain import Domain
        from rasa.shared.core.events import UserUttered
        from rasa.shared.core.trackers import DialogueStateTracker
        from bot.rasa_speedups import TunedSQLTrackerStore

        store = TunedSQLTrackerStore(
            domain=Domain.empty(), dialect="postgresql", host="127.0.0.1", port=5432,
            db="{database}", username="postgres",
        )
        asyncio.run(store.save(DialogueStateTracker.from_events("a", [UserUttered("托位")])))
        with store.engine.connect() as conn:
            print(conn.exec_driver_sql("SHOW synchronous_commit").scalar())
        print(asyncio.run(store.retrieve("a")).latest_message.text)
        store.engine.dispose()
        """,
        tmp_path,
    )
    assert out.split() == ["off", "托位"]


def test_sqlite_tracker_store_keeps_its_connection(tmp_path):
    out = run_in_rasa_env(
        f"""
        import asyncio
        from rasa.shared.core.domain import Domain
        from rasa.shared.core.events import UserUttered
        from rasa.shared.core.trackers import DialogueStateTracker
        from sqlalchemy import event
        from bot.rasa_speedups import TunedSQLTrackerStore

        store = TunedSQLTrackerStore(domain=Domain.empty(), dialect="sqlite", db="{tmp_path}/t.sqlite3")
        connects = []
        event.listen(store.engine, "connect", lambda *a: connects.append(1))
        for n in range(5):
            asyncio.run(store.save(DialogueStateTracker.from_events(f"s{{n}}", [UserUttered("托位")])))
            asyncio.run(store.retrieve(f"s{{n}}"))
        print(len(connects))
        """,
        tmp_path,
    )
    assert int(out) <= 1
