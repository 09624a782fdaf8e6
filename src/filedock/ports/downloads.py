"""Where download requests and their waiters are kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from filedock.core.download_model import DownloadRequest, Left, NewDownloadRequest, RequestStatus
from filedock.ports.jobs import JobRequest


class ItemGone(Exception):
    """The catalogue item a new request names does not exist (any more)."""


class DownloadRequests(Protocol):
    async def create_or_join(
        self, new: NewDownloadRequest, waiter_id: int, *, then: Sequence[JobRequest]
    ) -> tuple[DownloadRequest, bool]:
        """Join the live request with `new`'s live key, or create it; one transaction.

        Joining adds `waiter_id` to its waiters (once) and changes its revision. Creating
        inserts `new` as `pending` with `waiter_id` its first waiter and queues `then` in
        the same transaction, each job's payload given the new request's id as
        `request_id` (text, as payloads are). Two callers racing with the same spec end in
        one request.
        Returns the request and whether it was created; `ItemGone` if the item is gone.
        """
        ...

    async def get(self, request_id: int) -> DownloadRequest | None: ...

    async def waiting_for(self, account_id: int) -> list[DownloadRequest]:
        """The requests `account_id` waits for, oldest first."""
        ...

    async def is_waiter(self, request_id: int, account_id: int) -> bool: ...

    async def leave(
        self, request_id: int, account_id: int, *, on_cancel: Sequence[JobRequest]
    ) -> Left | None:
        """Remove `account_id` from the request's waiters; None if it was not one.

        In the same transaction, when nobody waits any more and the request is live, it is
        cancelled (a compare-and-set on its revision: a join that came first keeps it) and
        `on_cancel` is queued.
        """
        ...

    async def cancel_unwaited(
        self, on_cancel: Callable[[int], Sequence[JobRequest]], *, limit: int = 100
    ) -> list[int]:
        """Cancel live requests nobody waits for any more (their waiters' accounts were
        removed), as the last waiter leaving would, queuing `on_cancel(id)`; their ids."""
        ...

    async def move(
        self, request: DownloadRequest, to: RequestStatus, **changes: Any
    ) -> DownloadRequest | None:
        """Write `to` and `changes` if the stored status is still `request.status`.

        Returns the request as written, or None (nothing written) when it moved meanwhile,
        cancelled by its last waiter, say. Moving to `failed` frees its live key.
        `changes` are fields of `DownloadRequest`: estimated_size, real_size,
        executor_job_id, failure, file_id.
        """
        ...
