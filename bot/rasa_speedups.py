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

``apply()`` runs when Rasa loads the residents' REST channel (bot/channels/rest.py), in every Rasa process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses
from sqlalchemy import create_engine, event
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import SingletonThreadPool


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


def apply() -> None:
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign,assignment]


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
