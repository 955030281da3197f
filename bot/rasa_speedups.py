"""Two costs of Rasa 3.6 found by profiling the stack under load (docs/benchmarks.md), removed here.

1. ``RemoteAction._validate_action_result`` calls ``jsonschema.validate``, which checks the
   (constant) response schema itself again on every action call before validating the
   response: about 30 % of the Rasa process's CPU per message. ``apply()`` swaps in the same
   validation with a validator built once. Invalid action-server responses are still rejected
   with the same ``ValidationError`` (tests/test_rasa_speedups.py).
2. The SQLite tracker store commits every turn with a full fsync in rollback-journal mode
   (about 12 % of the CPU). ``SQLiteTrackerStore`` is Rasa's ``SQLTrackerStore`` with WAL and
   ``synchronous=NORMAL``: a committed turn survives a crash of any of our processes; only a
   power cut can lose the last turns. PostgreSQL keeps Rasa's defaults.

``apply()`` runs when Rasa loads the residents' REST channel (bot/channels/rest.py), in every Rasa process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy import event


@lru_cache(maxsize=1)
def _response_validator() -> Any:
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # once, not per message
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    from jsonschema import ValidationError, exceptions

    error = exceptions.best_match(_response_validator().iter_errors(result))
    if error is None:
        return True
    assert isinstance(error, ValidationError)
    error.message += ". Failed to validate Action server response from API (see the custom-actions docs)."
    raise error


def apply() -> None:
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


class SQLiteTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on SQLite in WAL mode (configured by scripts/endpoints.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_wal)
            self.engine.dispose()  # connections made so far were opened without the pragmas


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
