"""Rasa's SQL tracker store with a per-worker cache of conversations (issue 16).

Stock Rasa reads a conversation's whole session from the database for every message, decodes
every event and replays them all (``SQLTrackerStore.retrieve``), so each answer costs more the
longer the resident has been talking. ``CachedSQLTrackerStore`` keeps, in each Rasa worker, the
tracker it saved last for a conversation and hands that same object back on the next message
when the database still holds exactly what was saved:

- **write-through**: ``save`` writes the new events to the database as Rasa does, and only then
  keeps the tracker; the database stays the only source of truth;
- **checked on every read**: the conversation's *version* is ``(number of rows, highest row id)``
  of its events, one indexed query. Another worker (or replica) that handled a message of the
  conversation since has added rows, so the version differs and the conversation is read from
  the database as stock Rasa reads it;
- **the same tracker stock Rasa would read**: a tracker is kept only when the events saved with
  it are what Rasa's own query returns next time (no new session started in the turn, no event
  older than the session start, the rows written are exactly the tracker's new events), and
  only if nothing else touched the tracker before the next read (same number of events). A
  tracker is handed out once: the message that gets it owns it until its save;
- **bounded**: least recently used conversations are dropped beyond ``cache_events`` events in
  all (``TRACKER_CACHE_EVENTS``, scripts/endpoints.py; 0 turns the cache off).

The conversation lock (bot/lock_store.py) makes one worker at a time handle a conversation; the
version check makes it safe for the next message to land on another worker. Rows of a live
conversation are only ever appended (as Rasa does); a job that deletes old conversations must
delete a conversation's rows together (the count then changes and the cache is not used).

Overrides ``save`` and ``retrieve`` of Rasa 3.6.21's ``SQLTrackerStore`` (checked at import).
"""

from __future__ import annotations

import itertools
import json
import logging
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import rasa
import sqlalchemy as sa
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.rasa_speedups import TunedSQLTrackerStore

TARGET_RASA_VERSION = "3.6.21"
if rasa.__version__ != TARGET_RASA_VERSION:  # save() re-implements Rasa's: re-check it on upgrade
    raise RuntimeError(f"bot/tracker_cache.py targets Rasa {TARGET_RASA_VERSION}, found {rasa.__version__}")

log = logging.getLogger(__name__)

DEFAULT_CACHE_EVENTS = 50_000  # ~2.8 KB each in memory with their dialogue states (measured): ~140 MB per worker
LENT_LIMIT = 10_000


@dataclass(frozen=True)
class Version:
    rows: int
    last_id: int | None


@dataclass
class _Kept:
    tracker: DialogueStateTracker
    version: Version
    length: int  # len(tracker.events) when kept: a tracker changed since is not handed out


@dataclass
class _Lent:
    tracker: weakref.ref  # the tracker a message got from retrieve()
    version: Version  # the conversation's version when it was read
    length: int  # its number of events then (= rows of the latest session)


class CachedSQLTrackerStore(TunedSQLTrackerStore):
    """``TunedSQLTrackerStore`` with a per-worker, version-checked, write-through tracker cache."""

    def __init__(self, *args: Any, cache_events: int | str = DEFAULT_CACHE_EVENTS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache_events = int(cache_events)
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._kept_events = 0
        self._lent: dict[str, _Lent] = {}
        self.hits = self.misses = 0
        table = self.SQLEvent.__table__
        self._version_query = sa.text(f"SELECT count(id), max(id) FROM {table.name} WHERE sender_id = :sender_id")
        self._insert = table.insert()

    # -- version ---------------------------------------------------------------------------------
    def _version(self, connection: Any, sender_id: str) -> Version:
        """The conversation's (rows, highest id): one query over the index of ``sender_id``."""
        rows, last_id = connection.execute(self._version_query, {"sender_id": sender_id}).one()
        return Version(int(rows), last_id)

    # -- reading ---------------------------------------------------------------------------------
    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session of the conversation, as Rasa's ``retrieve`` returns it."""
        if self.cache_events <= 0:
            return await super().retrieve(sender_id)
        with self.engine.connect() as connection:
            version = self._version(connection, sender_id)  # before the events: a row added later is seen at save
        kept = self._take(sender_id)
        if kept is not None and kept.version == version and len(kept.tracker.events) == kept.length:
            tracker: DialogueStateTracker | None = kept.tracker
            self.hits += 1
        else:
            tracker = await super().retrieve(sender_id)
            self.misses += 1
        if tracker is not None:
            if len(self._lent) > LENT_LIMIT:  # trackers read but never saved (e.g. for the HTTP API)
                self._lent = {s: lent for s, lent in self._lent.items() if lent.tracker() is not None}
            self._lent[sender_id] = _Lent(weakref.ref(tracker), version, len(tracker.events))
        return tracker

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's, reading the stored tracker from the database (never lending the cached one)."""
        if self.event_broker is None:
            return
        old_tracker = await TunedSQLTrackerStore.retrieve(self, tracker.sender_id)
        from rasa.shared.core.trackers import TrackerEventDiffEngine

        new_events = TrackerEventDiffEngine.event_difference(old_tracker, tracker)
        await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)

    # -- writing ---------------------------------------------------------------------------------
    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's ``SQLTrackerStore.save`` (the same rows), then keep the tracker if it is what Rasa reads next."""
        sender_id = tracker.sender_id
        lent = self._lent.pop(sender_id, None)
        if lent is not None and lent.tracker() is not tracker:
            lent = None  # another message's tracker of the same conversation
        self._take(sender_id)  # whatever was kept for it is out of date once this save writes
        await self.stream_events(tracker)
        keep: Version | None = None
        with self.session_scope() as session:
            connection = session.connection()
            if lent is not None and self.cache_events > 0 and self._version(connection, sender_id) == lent.version:
                stored = lent.length  # the rows are those it was read from: Rasa's count would say the same
            else:  # Rasa's own count of the stored events of the latest session
                lent = None
                stored = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).count()
            new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
            if new_events:  # in their order, in one statement
                connection.execute(self._insert, [self._row(sender_id, event) for event in new_events])
            if lent is not None and self._keepable(tracker, new_events):
                now = self._version(connection, sender_id)
                if now.rows == lent.version.rows + len(new_events):  # no other writer: the newest rows are ours
                    keep = now
            session.commit()
        log.debug("Tracker with sender_id '%s' stored to database", sender_id)
        if keep is not None:
            self._keep(sender_id, _Kept(tracker, keep, len(tracker.events)))

    @staticmethod
    def _row(sender_id: str, event: Any) -> dict[str, Any]:
        """The database row of one event, as Rasa 3.6.21's ``SQLTrackerStore.save`` writes it."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    @staticmethod
    def _keepable(tracker: DialogueStateTracker, new_events: list) -> bool:
        """Whether Rasa's query for the latest session returns exactly ``tracker.events`` after this save."""
        if any(isinstance(event, SessionStarted) for event in new_events):
            return False  # Rasa reads from the new session start on: read it from the database once
        starts = [event.timestamp for event in tracker.events if isinstance(event, SessionStarted)]
        session_start = max(starts, default=None)  # Rasa's query: events at or after the latest start
        return session_start is None or all(event.timestamp >= session_start for event in new_events)

    # -- the cache -------------------------------------------------------------------------------
    def _take(self, sender_id: str) -> _Kept | None:
        kept = self._kept.pop(sender_id, None)
        if kept is not None:
            self._kept_events -= kept.length
        return kept

    def _keep(self, sender_id: str, kept: _Kept) -> None:
        self._kept[sender_id] = kept
        self._kept_events += kept.length
        while self._kept_events > self.cache_events and self._kept:
            _, dropped = self._kept.popitem(last=False)  # least recently used first
            self._kept_events -= dropped.length
