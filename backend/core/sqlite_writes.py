"""SQLite connections whose writers queue on a lock in this process instead of polling.

SQLite lets one transaction write at a time. A second writer gets SQLITE_BUSY and Python's
busy handler retries after sleeping 1, 2, 5, … up to 100 ms, so under a burst of orders a
writer can sleep long after the lock is free, and the slowest requests wait seconds (the
intake benchmark's p99). Here a write transaction first takes a lock per database file,
shared by the process's threads: waiters wake the moment the previous writer commits. Other
processes on the same file (`furusato worker`) still meet SQLite's own lock and busy timeout.

The lock is taken where the sqlite3 module itself opens a write transaction (before the first
INSERT, UPDATE, DELETE or REPLACE outside a transaction) and released by commit, rollback or
close, so reads never wait for it.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any, Self

_DML = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(database: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(database, threading.Lock())


class WriteQueuedConnection(sqlite3.Connection):
    """A `sqlite3.Connection` that holds its file's process lock for each write transaction."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._write_lock = _lock_for(str(database))
        self._holds_write_lock = False
        self._lock_timeout = float(kwargs.get("timeout", 5.0))

    def begin_write(self, statement: str) -> None:
        if self._holds_write_lock or self.in_transaction or not _DML.match(statement):
            return
        if not self._write_lock.acquire(timeout=self._lock_timeout):
            raise sqlite3.OperationalError("database is locked (another thread's write transaction)")
        self._holds_write_lock = True

    def _end_write(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            self._write_lock.release()

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or WriteQueuedCursor)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_write()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_write()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_write()


class WriteQueuedCursor(sqlite3.Cursor):
    """Takes the connection's write lock before the statement that opens a write transaction."""

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        connection = self.connection
        if isinstance(connection, WriteQueuedConnection):
            connection.begin_write(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Self:
        connection = self.connection
        if isinstance(connection, WriteQueuedConnection):
            connection.begin_write(sql)
        return super().executemany(sql, seq_of_parameters)
