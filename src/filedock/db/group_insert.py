"""Group commit: rows inserted at about the same time share one transaction.

Issuing a signed URL records a pending file, and an upload through a face records its file
with its processing job, so under load the server inserts rows on every request. A
transaction costs a round trip to the database (one hop to SQLite's thread: db/transactions.py)
and a commit, whatever it holds, so
the first row is written at once and every row that arrives meanwhile goes into the next
transaction together. Alone, a row waits for nothing; under load, the cost of a commit is
shared.

A row may bring rows of a second table that must commit with it (an uploaded file's jobs).

Each caller still learns the fate of its own row: if a batch breaks a constraint, its rows
are written again one by one, so only the offending row's caller sees the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import IntegrityError

from filedock.db.transactions import Transactions

# Rows a statement carries at most: within SQLite's bound-parameter limit at 20 columns.
MAX_BATCH = 40

_Waiting = tuple[dict[str, Any], Sequence[dict[str, Any]], asyncio.Future[None]]


class GroupInsert:
    """Inserts rows into `table` (and their companions into `companions`), batching
    concurrent calls into one transaction."""

    def __init__(
        self, transactions: Transactions, table: Table, companions: Table | None = None
    ) -> None:
        self._transactions = transactions
        self._statement = insert(table)
        self._companions = None if companions is None else insert(companions)
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, row: dict[str, Any], companions: Sequence[dict[str, Any]] = ()) -> None:
        """Insert `row`, and `companions` into the second table in the same transaction;
        returns once they are committed, or raises what the database raised."""
        if companions and self._companions is None:
            raise ValueError("this group insert has no table for companion rows")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, companions, done))
        if self._writer is None:
            # A task of its own: a caller that gives up (client gone) cancels only its wait,
            # never the transaction that carries other callers' rows.
            self._writer = asyncio.create_task(self._write_waiting(), name="filedock-inserts")
        await done

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._write(batch)
        finally:
            self._writer = None

    async def _write(self, batch: list[_Waiting]) -> None:
        rows = [row for row, _, _ in batch]
        companions = [one for _, their_rows, _ in batch for one in their_rows]

        def write(connection: Connection) -> None:
            # A plain connection: the ORM session's unit of work has nothing to add here.
            connection.execute(self._statement, rows)
            if companions and self._companions is not None:
                connection.execute(self._companions, companions)

        try:
            await self._transactions.run(write)
        except IntegrityError as exc:
            if len(batch) == 1:
                _settle(batch, exc)
                return
            for one in batch:  # find whose row it was; the others go in on their own
                await self._write([one])
            return
        except asyncio.CancelledError:
            for _, _, done in batch:
                done.cancel()
            raise
        except Exception as exc:
            _settle(batch, exc)
            return
        _settle(batch, None)


def _settle(batch: list[_Waiting], error: Exception | None) -> None:
    for _, _, done in batch:
        if done.done():  # its caller stopped waiting
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
