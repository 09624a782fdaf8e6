"""Rows inserted at about the same time share one statement and one transaction.

An upload through a face records its file with its processing job, so under load the server
inserts rows on every request. Concurrent rows go into one multi-row INSERT (and their
companion rows into a second) in one transaction, through `GroupCommit` (db/group_commit.py):
alone, a row waits for nothing; under load the cost of a statement and a commit is shared,
and a row that breaks a constraint fails only its own caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import IntegrityError

from filedock.db.group_commit import GroupCommit
from filedock.db.transactions import Transactions

# Rows a statement carries at most: within SQLite's bound-parameter limit at 20 columns.
MAX_BATCH = 40

_Rows = tuple[dict[str, Any], Sequence[dict[str, Any]]]


class GroupInsert:
    """Inserts rows into `table` (and their companions into `companions`), batching
    concurrent calls into one transaction."""

    def __init__(
        self, transactions: Transactions, table: Table, companions: Table | None = None
    ) -> None:
        self._transactions = transactions
        self._statement = insert(table)
        self._companions = None if companions is None else insert(companions)
        self._batches: GroupCommit[_Rows, None] = GroupCommit(
            self._write, max_batch=MAX_BATCH, name="filedock-inserts", alone_after=IntegrityError
        )

    async def insert(self, row: dict[str, Any], companions: Sequence[dict[str, Any]] = ()) -> None:
        """Insert `row`, and `companions` into the second table in the same transaction;
        returns once they are committed, or raises what the database raised."""
        if companions and self._companions is None:
            raise ValueError("this group insert has no table for companion rows")
        await self._batches.run((row, companions))

    async def _write(self, batch: Sequence[_Rows]) -> list[None]:
        rows = [row for row, _ in batch]
        companions = [one for _, their_rows in batch for one in their_rows]

        def write(connection: Connection) -> None:
            # A plain connection: the ORM session's unit of work has nothing to add here.
            connection.execute(self._statement, rows)
            if companions and self._companions is not None:
                connection.execute(self._companions, companions)

        await self._transactions.run(write)
        return [None] * len(batch)
