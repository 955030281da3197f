"""Costs of Rasa 3.6 found by profiling the stack under load (docs/bench-load.md), removed here.

1. ``RemoteAction._validate_action_result`` calls ``jsonschema.validate``, which checks the
   (constant) response schema itself again on every action call before validating the
   response: about 30 % of the Rasa process's CPU per message. ``apply()`` swaps in the same
   validation with a validator built once. Invalid action-server responses are still rejected
   with the same ``ValidationError`` (tests/test_rasa_speedups.py).
2. ``Event.resolve_by_type`` walks every subclass of ``Event`` recursively for each stored
   event it deserialises (5 % of the CPU with an SQL tracker store). ``apply()`` remembers the
   answer per type name; same result, same order of precedence.
3. The tracker store commits every turn and waits for the disk (SQLite: rollback journal with
   full fsync, 12 % of the CPU; PostgreSQL: synchronous commit), blocking the worker's event
   loop meanwhile. ``TunedSQLTrackerStore`` is Rasa's ``SQLTrackerStore`` with SQLite in WAL mode
   with ``synchronous=NORMAL`` and PostgreSQL sessions with ``synchronous_commit=off``. Either
   way a committed turn survives a crash or restart of any of our processes; only a crash of
   the machine or of the database server can lose the last fraction of a second of turns.
4. ``RemoteAction`` sends the action server the whole tracker with every action call, every
   event since the conversation began (rasa#6334): the payload, its JSON encoding here and its
   decoding there grow with every turn. ``apply()`` sends the events from the resident's
   ``ACTION_EVENT_MESSAGES``-th latest typed message on (``events_for_actions``), which is all
   actions/answer.py reads of them (``resident_words``, ``previous_words``, ``earlier_refs``, the
   latest input channel); slots, ``latest_message`` and the rest of the tracker state are sent whole as before.
   An action that needs an older event must raise ``ACTION_EVENT_MESSAGES``.
5. A full garbage collection of a Rasa process walks every object of the loaded model (about
   600,000; 0.4–0.5 s on this machine) and stops the worker meanwhile, every few dozen messages.
   ``apply()`` makes Rasa move the objects alive once the model is loaded out of the collector's
   reach (``gc.freeze()``); garbage made while answering is collected as before.

6. ``RulePolicy`` turns the whole conversation into dialogue states (``Domain.states_for_tracker_history``:
   replay every event, compute a state before each action) three times per message, so a
   long conversation's answers grow slower with every turn even when its tracker is cached.
   The states of a prefix of the conversation depend on that prefix only: ``apply()`` keeps,
   on the tracker, the states computed so far with the replayed tracker they came from, and
   adds only the new events' states; when the applied events are not the kept ones followed
   by new ones (a restart, an undo), it computes them all as Rasa does. Callers get their own
   copies. Only for ``ignore_rule_only_turns=False`` (RulePolicy's); otherwise Rasa's own code.

7. ``EndpointConfig.request`` (every call to the action server) opens a new HTTP session, and
   so a new TCP connection, and closes it again. ``apply()`` keeps one session per endpoint and
   event loop (same headers, authentication and timeout as Rasa's), so calls reuse connections.
   An idle connection is closed after ``KEEP_ALIVE_SECONDS``, well before the action server's
   (Sanic: 5 s), so a call never goes out on a connection the server is closing.

``apply()`` runs when Rasa loads the residents' REST channel (bot/channels/rest.py), in every Rasa process.
Each patch is written against Rasa 3.6.21's code and the module refuses to load with another Rasa.
The conversation cache (``CachedSQLTrackerStore``) is in bot/tracker_cache.py.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any

import aiohttp
import rasa
import rasa.core.run
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import SingletonThreadPool

TARGET_RASA_VERSION = "3.6.21"
if rasa.__version__ != TARGET_RASA_VERSION:  # every patch below replaces Rasa code of that version
    raise RuntimeError(f"bot/rasa_speedups.py targets Rasa {TARGET_RASA_VERSION}, found {rasa.__version__}")

# The action server gets the events from the resident's 3rd-latest typed message on (patch 4): the
# answers to the two messages before the latest ("这两个数分别是哪年的" after two figures).
ACTION_EVENT_MESSAGES = 3


@lru_cache(maxsize=1)
def _response_validator() -> Any:
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # once, not per message
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    from jsonschema import exceptions

    error = exceptions.best_match(_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += ". Failed to validate Action server response from API (see the custom-actions docs)."
    raise error


_EVENT_TYPES: dict[str, type] = {}
_original_resolve_by_type = Event.resolve_by_type


def _resolve_by_type(type_name: str, default: type | None = None) -> type | None:
    found = _EVENT_TYPES.get(type_name)
    if found is None:  # first use, or a type defined since: walk the subclasses as Rasa does
        for cls in all_subclasses(Event):
            _EVENT_TYPES.setdefault(cls.type_name, cls)  # the first in Rasa's order wins, as in Rasa
        found = _EVENT_TYPES.get(type_name)
    return found or _original_resolve_by_type(type_name, default)


def _typed(event: Event) -> bool:
    """A message the resident typed (a clicked button sends "/intent{…}" instead)."""
    text = (getattr(event, "text", None) or "").strip()
    return event.type_name == "user" and bool(text) and not text.startswith("/")


def events_for_actions(events: Iterable[Event], messages: int = ACTION_EVENT_MESSAGES) -> list[Event]:
    """The events from the ``messages``-th latest typed user message on (all of them if there are fewer)."""
    events = list(events)
    seen = 0
    for index in range(len(events) - 1, -1, -1):
        if _typed(events[index]):
            seen += 1
            if seen == messages:
                return events[index:]
    return events


_stock_action_call_format = RemoteAction._action_call_format


def _action_call_format(self: RemoteAction, tracker: Any, domain: Any) -> dict[str, Any]:
    """Rasa 3.6.21's request body, with only ``events_for_actions(tracker.events)`` as its events."""
    return _stock_action_call_format(self, _RecentEvents(tracker), domain)


class _RecentEvents:
    """The tracker as the stock request body sees it: its state with only the events actions read."""

    def __init__(self, tracker: Any) -> None:
        self._tracker = tracker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)

    def current_state(self, _verbosity: Any = None) -> dict[str, Any]:
        from rasa.shared.core.trackers import EventVerbosity

        state = self._tracker.current_state(EventVerbosity.NONE)  # everything but the events, as before
        state["events"] = [event.as_dict() for event in events_for_actions(self._tracker.events)]
        return state


_stock_load_agent_on_start = rasa.core.run.load_agent_on_start


@wraps(_stock_load_agent_on_start)
async def _load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
    """Rasa's, then the objects alive (the model) frozen out of the garbage collector's full runs."""
    agent = await _stock_load_agent_on_start(*args, **kwargs)
    gc.collect()  # the start-up's garbage first, so that none of it is kept for ever
    gc.freeze()
    return agent


_stock_states_for_tracker_history = Domain.states_for_tracker_history
_STATES = "_rasa_speedups_states"  # the tracker attribute holding its kept states


@dataclass
class _KeptStates:
    applied: list[Event]  # the applied events consumed so far
    replay: DialogueStateTracker  # a fresh tracker that has been given exactly those
    states: list[dict[str, Any]]  # the cleaned state before each ActionExecuted among them


def _states_for_tracker_history(
    self: Domain,
    tracker: DialogueStateTracker,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rasa 3.6.21's result, computed only for the events added since the last call on this tracker."""
    if ignore_rule_only_turns:
        return _stock_states_for_tracker_history(self, tracker, omit_unset_slots, True, rule_only_data)
    key = (id(self), omit_unset_slots)  # rule_only_data is not used when rule-only turns are kept
    kept_by_key = tracker.__dict__.setdefault(_STATES, {})
    applied = tracker.applied_events()
    kept = kept_by_key.get(key)
    done = len(kept.applied) if kept is not None else 0
    if kept is None or done > len(applied) or any(a is not b for a, b in zip(kept.applied, applied, strict=False)):
        kept = kept_by_key[key] = _KeptStates([], tracker.init_copy(), [])  # as generate_all_prior_trackers
        done = 0
    for new in applied[done:]:
        if isinstance(new, ActionExecuted):
            kept.states.append(self._clean_state(self.get_active_state(kept.replay, omit_unset_slots)))
        kept.replay.update(new)
    kept.applied = applied
    states = [*kept.states, self._clean_state(self.get_active_state(kept.replay, omit_unset_slots))]
    return [{kind: dict(sub_state) for kind, sub_state in state.items()} for state in states]  # callers edit them


KEEP_ALIVE_SECONDS = 1.0
_SESSION = "_rasa_speedups_session"  # the endpoint attribute holding (event loop, kept session)


class _KeptSession:
    """``async with`` gives the kept session and leaves it open (Rasa closes the one it made)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *_: object) -> None:
        return None


def _session(self: EndpointConfig) -> _KeptSession:
    """Rasa 3.6.21's session for this endpoint (headers, basic auth, total timeout), made once per event loop."""
    loop = asyncio.get_running_loop()
    kept = self.__dict__.get(_SESSION)
    if kept is None or kept[0] is not loop or kept[1].closed:
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_SECONDS),
        )
        kept = self.__dict__[_SESSION] = (loop, session)
    return _KeptSession(kept[1])


def apply() -> None:
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign,assignment]
    RemoteAction._action_call_format = _action_call_format  # type: ignore[method-assign]
    # serve_application looks the listener up when it registers it, after the channels are loaded
    rasa.core.run.load_agent_on_start = _load_agent_on_start  # type: ignore[assignment]
    Domain.states_for_tracker_history = _states_for_tracker_history  # type: ignore[method-assign]
    EndpointConfig.session = _session  # type: ignore[method-assign,assignment]


class TunedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store without waiting for the disk on every turn (configured by scripts/endpoints.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            # SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool): keep one instead.
            # Rasa uses the store from its event loop's thread only.
            url = self.engine.url
            self.engine.dispose()
            self.engine = create_engine(url, poolclass=SingletonThreadPool)
            self.sessionmaker = sessionmaker(bind=self.engine)
            event.listen(self.engine, "connect", _sqlite_wal)
        elif self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect", _postgresql_async_commit)
            self.engine.dispose()  # connections made so far were opened without the setting


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _postgresql_async_commit(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit TO off")
    cursor.close()
    dbapi_connection.commit()
