"""Rasa's conversation lock, made safe across processes, and able to say when a turn starts.

Rasa holds a per-conversation ticket lock around each message (``Agent.handle_message``), so one
resident's messages are processed one at a time and in order. Rasa 3.6's ``RedisLockStore``
keeps a conversation's tickets as one JSON value and changes it by read → modify → write with
no transaction. With several Sanic workers (``make run PROFILE=prod``) two workers can:
- issue the same ticket number, and then process two messages of one conversation at once: both
  load the same tracker, and the SQL tracker store saves only the events beyond the stored count,
  so the second turn's events are silently dropped (a resident's message missing from the
  conversation);
- delete the lock in ``cleanup`` just after the other worker saved its new ticket into it: that
  worker then finds no lock, raises ``LockError``, and the message is never processed (the
  resident got the apology, the message was lost).
This was the cause of the flaky ``test_concurrent_messages_in_one_conversation_are_processed_in_order``
(issue 9/12); tests/test_lock_store.py reproduces both with stock Rasa and shows them gone here.

``AtomicRedisLockStore`` does every read-modify-write of a lock in a Redis transaction
(WATCH/MULTI/EXEC, retried on conflict), and deletes a lock only when it holds no ticket, in the
same transaction. ``SignallingInMemoryLockStore`` is Rasa's in-memory store (one worker: already
atomic, since nothing awaits between its read and write).

Both poll for their turn every ``POLL_SECONDS`` instead of Rasa's 1 s, and set the
``TURN_STARTED`` event of the message's context once its turn has begun: the channels time an
answer from then (``bot/channels/rest.py``), so a message queued behind the same resident's
earlier messages is not mistaken for a stalled action server.

Both are configured by scripts/endpoints.py as ``type: bot.lock_store.…`` (Rasa's supported way
to plug in a lock store). They override Rasa 3.6's ``_acquire_lock`` and so check the Rasa version.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import rasa
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

log = logging.getLogger(__name__)

TARGET_RASA_VERSION = "3.6.21"
if rasa.__version__ != TARGET_RASA_VERSION:  # _acquire_lock is Rasa's private code: re-check it on upgrade
    raise RuntimeError(f"bot/lock_store.py targets Rasa {TARGET_RASA_VERSION}, found {rasa.__version__}")

# One Redis GET (or dict lookup) per poll; a queued message starts within this of its turn.
POLL_SECONDS = 0.02
# Set by a channel before it hands a message to Rasa; the lock store sets it when the turn starts.
TURN_STARTED: ContextVar[asyncio.Event | None] = ContextVar("turn_started", default=None)


# A ticket a channel took when the message arrived (``reserve_turn``), used by ``lock`` instead of
# a new one: the turn order is the order of arrival, not the order in which the channel's own
# awaits (rate limits in Redis) happen to finish.
@dataclass
class Reservation:
    conversation_id: str
    ticket: int
    used: bool = False  # set by the lock store when the message's turn takes it


RESERVED: ContextVar[Reservation | None] = ContextVar("reserved_ticket", default=None)
_STORE: _SignallingLock | None = None  # this process's lock store, once Rasa has created it


def reserve_turn(conversation_id: str) -> Reservation | None:
    """Take the conversation's next ticket now. None before Rasa created its lock store, or if the
    store fails (the turn then takes its ticket later, and reports the failure itself)."""
    if _STORE is None:
        return None
    try:
        return Reservation(conversation_id, _STORE.issue_ticket(conversation_id, LOCK_LIFETIME))
    except LockError:
        log.warning("could not reserve a turn; the message will take its ticket when processed")
        return None


def release_turn(reservation: Reservation | None) -> None:
    """Give back a reserved ticket that no turn took (a refused or rate-limited message, a failure
    before Rasa's lock): otherwise the conversation would wait for it to expire."""
    if reservation is not None and not reservation.used and _STORE is not None:
        reservation.used = True
        try:
            _STORE.cleanup(reservation.conversation_id, reservation.ticket)
        except Exception:  # it expires with the lock lifetime anyway
            log.warning("could not release a reserved turn", exc_info=True)


T = TypeVar("T")


class _SignallingLock:
    """The waiting loop of Rasa's ``LockStore._acquire_lock``, polling faster and signalling the turn."""

    get_lock: Callable[[str], TicketLock | None]
    update_lock: Callable[[str], None]
    issue_ticket: Callable[..., int]
    cleanup: Callable[[str, int], None]

    def _register(self) -> None:
        global _STORE
        _STORE = self

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = POLL_SECONDS
    ) -> AsyncGenerator[TicketLock, None]:
        reserved = RESERVED.get()
        if reserved is not None and not reserved.used and reserved.conversation_id == conversation_id:
            reserved.used = True  # one message, one ticket
            ticket = reserved.ticket
        else:
            ticket = self.issue_ticket(conversation_id, lock_lifetime)
        try:
            yield await self._acquire_lock(conversation_id, ticket, min(wait_time_in_seconds, POLL_SECONDS))
        finally:
            self.cleanup(conversation_id, ticket)

    async def _acquire_lock(self, conversation_id: str, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        while True:
            lock = self.get_lock(conversation_id)
            if lock is None or not lock.tickets:  # our ticket expired (lock lifetime) and was removed
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if not lock.is_locked(ticket):
                started = TURN_STARTED.get()
                if started is not None:
                    started.set()
                return lock
            await asyncio.sleep(wait_time_in_seconds)
            self.update_lock(conversation_id)


class AtomicRedisLockStore(_SignallingLock, RedisLockStore):
    """Rasa's Redis lock store with each change of a lock done in one Redis transaction."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)
        self._register()

    def _change(self, conversation_id: str, change: Callable[[TicketLock | None], tuple[TicketLock | None, T]]) -> T:
        """Read the lock, apply ``change``, write the result (deleted when it holds no ticket), atomically."""
        key = self.key_prefix + conversation_id

        def attempt(pipe: Any) -> T:
            raw = pipe.get(key)
            lock, result = change(TicketLock.from_dict(json.loads(raw)) if raw else None)
            pipe.multi()
            if lock is None or not lock.tickets:
                pipe.delete(key)
            else:
                pipe.set(key, lock.dumps())
            return result

        return self.red.transaction(attempt, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def issue(lock: TicketLock | None) -> tuple[TicketLock, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, issue)
        except Exception as e:  # as Rasa's: any Redis failure is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e

    def update_lock(self, conversation_id: str) -> None:
        def drop_expired(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, drop_expired)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        def finish(lock: TicketLock | None) -> tuple[TicketLock | None, None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, finish)


class SignallingInMemoryLockStore(_SignallingLock, InMemoryLockStore):
    """Rasa's in-memory lock store (one worker), polling faster and signalling the turn."""

    def __init__(self, endpoint_config: EndpointConfig | None = None) -> None:
        super().__init__()
        self._register()
