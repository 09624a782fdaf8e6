"""Group commit: calls that arrive while a transaction runs go together in the next one.

A transaction costs about the same whether it carries one row or forty: on SQLite a hop to
the connection's thread and a commit, on PostgreSQL round trips and a commit. So the first
call runs at once, and every call that arrives meanwhile waits for the next batch. Alone, a
call waits for nothing; under load, the cost of a transaction is shared.

Each caller still learns the fate of its own item: when a batch fails for a reason one item
can cause, its items run again one by one, so only the failing item's caller sees the error.
The batches run in a task of their own: a caller that stops waiting (its client went away)
cancels only its wait, never the transaction that carries other callers' items.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Runs `commit` on batches of up to `max_batch` items; `commit` returns one result per
    item, in order, or raises for the whole batch."""

    def __init__(
        self,
        commit: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int,
        name: str,
        alone_after: type[Exception] | tuple[type[Exception], ...] = Exception,
    ) -> None:
        """`alone_after`: the errors after which a batch's items run again one by one (those
        an item can cause, as a broken constraint); any other error is every item's answer
        (an outage would only fail again, once per item)."""
        self._commit = commit
        self._alone_after = alone_after
        self._max_batch = max_batch
        self._name = name
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def run(self, item: Item) -> Result:
        """`item`'s result once its batch committed, or what its own run raised."""
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run_waiting(), name=self._name)
        return await done

    async def _run_waiting(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._run_batch(batch)
        finally:
            self._runner = None

    async def _run_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._commit([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, done in batch:
                done.cancel()
            raise
        except Exception as exc:
            if len(batch) == 1 or not isinstance(exc, self._alone_after):
                for _, done in batch:
                    _settle(done, error=exc)
                return
            for one in batch:  # find whose item failed; the others commit on their own
                await self._run_batch([one])
            return
        for (_, done), result in zip(batch, results, strict=True):
            _settle(done, result=result)


def _settle(
    done: asyncio.Future[Result], *, result: Result | None = None, error: Exception | None = None
) -> None:
    if done.done():  # its caller stopped waiting
        return
    if error is None:
        done.set_result(result)  # type: ignore[arg-type]
    else:
        done.set_exception(error)
