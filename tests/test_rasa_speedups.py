"""bot/rasa_speedups.py in Rasa's own environment: same validation, validator built once; WAL tracker store;
the action server gets what the answer action reads; the model out of the garbage collector's way."""

import json
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


def action_calls(tmp_path, turns: int) -> list[dict]:
    """Rasa's request to the action server at each turn of a conversation: stock and patched."""
    out = run_in_rasa_env(
        f"""
        import json
        from rasa.core.actions.action import RemoteAction
        from rasa.shared.core.domain import Domain
        from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
        from rasa.shared.core.trackers import DialogueStateTracker
        from rasa.utils.endpoints import EndpointConfig
        from bot import rasa_speedups

        domain = Domain.load("domain.yml")
        action = RemoteAction("action_answer", EndpointConfig("http://127.0.0.1:1/webhook"))
        stock = RemoteAction._action_call_format
        tracker = DialogueStateTracker("resident", domain.slots)
        for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
            tracker.update(event)
        calls = []
        for n in range({turns}):
            if n % 4 == 2:  # a clicked related-question button
                text, intent, entities = '/choose_faq{{"faq_id":"{{n}}"}}', "choose_faq", [
                    {{"entity": "faq_id", "value": str(n), "start": 0, "end": 1}}]
            else:
                text, intent, entities = f"问题{{n}} 西湖区" if n % 3 else f"那临平区呢{{n}}", "ask_hukou", [
                    {{"entity": "district", "value": "西湖区" if n % 3 else "临平区", "start": 0, "end": 3}}]
            parse = {{"text": text, "intent": {{"name": intent, "confidence": 0.9}}, "entities": entities,
                      "intent_ranking": [{{"name": intent, "confidence": 0.9}}]}}
            tracker.update(UserUttered(text, parse["intent"], entities, parse, input_channel=["rest", "wechat"][n % 2]))
            calls.append({{"stock": stock(action, tracker, domain)}})
            rasa_speedups.apply()
            calls[-1]["patched"] = action._action_call_format(tracker, domain)
            RemoteAction._action_call_format = stock
            tracker.update(ActionExecuted("action_answer"))
            tracker.update(BotUttered(f"答{{n}}", {{"custom": {{"step": "topic_answer", "answer": {{"faq_id": n}}}}}}))
            tracker.update(SlotSet("topic", ["hukou", "elevator"][n % 2]))
            tracker.update(ActionExecuted("action_listen"))
        print(json.dumps(calls, ensure_ascii=False))
        """,
        tmp_path,
    )
    return json.loads(out.strip().splitlines()[-1])


def test_the_action_server_gets_every_event_the_answer_action_reads(tmp_path):
    from rasa_sdk import Tracker

    from actions.answer import previous_words, resident_words, turn_of

    calls = action_calls(tmp_path, turns=40)
    last = calls[-1]["patched"]["tracker"]["events"], calls[-1]["stock"]["tracker"]["events"]
    assert len(last[0]) * 10 < len(last[1])  # not every event of the conversation
    for call in calls:
        stock, patched = call["stock"], call["patched"]
        full, recent = Tracker.from_dict(stock["tracker"]), Tracker.from_dict(patched["tracker"])
        assert turn_of(recent) == turn_of(full)  # what the answer steps are given
        assert (resident_words(recent), previous_words(recent)) == (resident_words(full), previous_words(full))
        assert recent.get_latest_input_channel() == full.get_latest_input_channel()
        events = patched["tracker"].pop("events")
        assert stock["tracker"].pop("events")[-len(events) :] == events  # the latest events, as they were
        assert patched == stock  # the rest of the request: action, sender, slots, latest message, domain, …


def test_the_loaded_model_is_frozen_out_of_the_garbage_collectors_full_runs(tmp_path):
    out = run_in_rasa_env(
        """
        import asyncio, gc
        from types import SimpleNamespace
        from unittest import mock
        import rasa.core.run
        from bot import rasa_speedups

        model = [{"weights": list(range(100))} for _ in range(1000)]  # objects alive when the agent is loaded
        load = mock.AsyncMock(return_value="the agent")
        app = SimpleNamespace(ctx=SimpleNamespace())
        with mock.patch("rasa.core.agent.load_agent", load):
            asyncio.run(rasa.core.run.load_agent_on_start("m.tar.gz", None, None, app, None))
            print("stock", app.ctx.agent, gc.get_freeze_count())
            rasa_speedups.apply()
            asyncio.run(rasa.core.run.load_agent_on_start("m.tar.gz", None, None, app, None))
            print("patched", app.ctx.agent, gc.get_freeze_count(), load.await_count)
        """,
        tmp_path,
    )
    stock, patched = (line.split() for line in out.strip().splitlines()[-2:])
    assert stock == ["stock", "the", "agent", "0"]
    assert patched[:3] == ["patched", "the", "agent"] and patched[4] == "2"  # Rasa's loading, as before
    assert int(patched[3]) > 100_000  # the objects alive then (the model's, here a stand-in) are frozen


def test_the_patches_refuse_another_rasa_version(tmp_path):
    for module in ("bot.rasa_speedups", "bot.tracker_cache", "bot.lock_store"):
        result = subprocess.run(
            [RASA_PYTHON, "-c", f"import rasa; rasa.__version__ = '3.7.0'; import {module}"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
            env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT)},
        )  # fmt: skip
        assert result.returncode != 0 and "targets Rasa 3.6.21, found 3.7.0" in result.stderr, module


def test_dialogue_states_are_rasas_while_only_new_events_are_worked_through(tmp_path):
    out = run_in_rasa_env(
        """
        import json
        from unittest import mock
        from rasa.shared.core.domain import Domain
        from rasa.shared.core.events import (
            ActionExecuted, ActionReverted, BotUttered, Restarted, SessionStarted, SlotSet, UserUttered,
            UserUtteranceReverted,
        )
        from rasa.shared.core.trackers import DialogueStateTracker
        from bot import rasa_speedups

        domain = Domain.load("domain.yml")
        stock = Domain.states_for_tracker_history
        rasa_speedups.apply()
        tracker = DialogueStateTracker("resident", domain.slots)

        def user(text, intent):
            return UserUttered(text, {"name": intent, "confidence": 0.9},
                               [{"entity": "district", "value": "西湖区", "start": 0, "end": 3}])

        script = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
        for n in range(30):
            script += [user(f"问题{n}", ["ask_hukou", "choose_faq", "greet"][n % 3]), ActionExecuted("action_answer"),
                       BotUttered(f"答{n}"), SlotSet("topic", ["hukou", None][n % 2]), ActionExecuted("action_listen")]
            if n == 9:
                script += [UserUtteranceReverted()]  # undoes the last user turn: states computed from scratch
            if n == 14:
                script += [ActionReverted()]
            if n == 19:
                script += [Restarted(), ActionExecuted("action_listen")]
            if n == 24:
                script += [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
        same, worked = [], []
        get_active_state = Domain.get_active_state
        for event in script:
            tracker.update(event)
            for omit in (False, True):
                with mock.patch.object(Domain, "get_active_state", autospec=True, side_effect=get_active_state) as spy:
                    patched = domain.states_for_tracker_history(tracker, omit_unset_slots=omit)
                worked.append(spy.call_count)
                same.append(patched == stock(domain, tracker, omit_unset_slots=omit))
                patched[-1].clear()  # a caller editing its states changes nothing kept
                same.append(domain.states_for_tracker_history(tracker, omit_unset_slots=omit) == stock(
                    domain, tracker, omit_unset_slots=omit))
        rule_only = domain.states_for_tracker_history(tracker, ignore_rule_only_turns=True, rule_only_data={})
        same.append(rule_only == stock(domain, tracker, ignore_rule_only_turns=True, rule_only_data={}))
        print(json.dumps({"same": same, "worked": worked, "states": len(rule_only)}))
        """,
        tmp_path,
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert all(result["same"]) and len(result["same"]) > 600
    assert max(result["worked"]) > 20  # after an undo or a restart: everything again
    assert sorted(result["worked"])[len(result["worked"]) // 2] <= 2  # usually: only the new events' states


def test_calls_to_the_action_server_reuse_their_connection(tmp_path):
    out = run_in_rasa_env(
        """
        import asyncio, json
        from aiohttp import web
        from rasa.utils.endpoints import EndpointConfig
        from bot import rasa_speedups

        async def main():
            seen = []

            async def webhook(request):
                body = await request.json()
                peer = request.transport.get_extra_info("peername")
                seen.append([peer[1], request.headers.get("Authorization"), request.headers.get("X-Test"),
                             dict(request.query), body])
                return web.json_response({"events": [], "responses": [{"text": str(body["n"])}]})

            app = web.Application()
            app.router.add_post("/webhook", webhook)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/webhook"
            endpoint = EndpointConfig(url, params={"p": "1"}, headers={"X-Test": "yes"},
                                      basic_auth={"username": "u", "password": "pw"}, token="t")
            result = {}
            for kind in ("stock", "patched"):
                if kind == "patched":
                    rasa_speedups.apply()
                start = len(seen)
                replies = [await endpoint.request(json={"n": n}, method="post") for n in range(5)]
                if kind == "patched":
                    await asyncio.sleep(rasa_speedups.KEEP_ALIVE_SECONDS + 0.5)  # idle: the connection is closed
                    replies.append(await endpoint.request(json={"n": 5}, method="post"))
                requests = seen[start:]
                result[kind] = {"replies": replies, "connections": len({r[0] for r in requests}),
                                "requests": [r[1:] for r in requests]}
            await runner.cleanup()
            print(json.dumps(result))

        asyncio.run(main())
        """,
        tmp_path,
    )
    result = json.loads(out.strip().splitlines()[-1])
    stock, patched = result["stock"], result["patched"]
    assert patched["replies"][:5] == stock["replies"] and patched["requests"][:5] == stock["requests"]
    assert stock["requests"][0][:3] == ["Basic dTpwdw==", "yes", {"p": "1", "token": "t"}]  # as Rasa sends them
    assert stock["connections"] == 5  # Rasa: a new connection per call
    assert patched["connections"] == 2  # one for the five calls, a new one after the idle second
    assert patched["replies"][5] == {"events": [], "responses": [{"text": "5"}]}
