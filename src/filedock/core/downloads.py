"""Download requests (seed 003, "Download Requests Management"): ask, join, wait, leave.

A researcher asks for an extract of a catalogue item: columns, filters, a sample ratio. An
identical live request is joined rather than run twice: the caller becomes one of its
waiters. Only waiters see a request; its result is read through a short-lived signed `uri`
minted on each read. The last waiter leaving cancels it and stops its job. The extract itself
runs as a durable job (`core/extracts.py`), never on the request's thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from filedock.core.account_model import Account
from filedock.core.catalogue import CatalogueEntry, CatalogueService, ItemNotFound
from filedock.core.catalogue_model import CatalogueItem, ExecutorType
from filedock.core.download_model import (
    CLEAR_EXTRACT_JOB,
    RUN_EXTRACT_JOB,
    DownloadRequest,
    NewDownloadRequest,
    RequestStatus,
)
from filedock.core.errors import InvalidInput, NotFound
from filedock.core.extract_spec import (
    ColumnOperators,
    ExtractSpec,
    dedupe_key,
    operators_by_column,
    parse_spec,
    render_spec,
)
from filedock.core.model import FileStatus
from filedock.core.signing import SignedGrants
from filedock.ports.accounts import AccountStore
from filedock.ports.downloads import DownloadRequests, ItemGone
from filedock.ports.executor import Executor, ExtractQuery, ExtractUnreadable
from filedock.ports.jobs import JobRequest
from filedock.ports.metadata import FileRecords

# Request ids are the store's serials, 32-bit integers on PostgreSQL.
MAX_ID: Final = 2**31 - 1
_INTEGER_REQUIRED: Final = "A valid integer is required."
_FIELDS: Final = frozenset({"catalogue_item_id", "spec"})


class RequestNotFound(NotFound):
    """No request with this id that the caller waits for."""


@dataclass(frozen=True, slots=True)
class DownloadView:
    """A request as its waiter sees it: with its item, its creator and, once done, a link."""

    request: DownloadRequest
    item: CatalogueEntry
    created_by: Account | None
    uri: str | None


class DownloadService:
    def __init__(
        self,
        requests: DownloadRequests,
        catalogue: CatalogueService,
        accounts: AccountStore,
        executors: Mapping[ExecutorType, Executor],
        files: FileRecords,
        grants: SignedGrants,
    ) -> None:
        self._requests = requests
        self._catalogue = catalogue
        self._accounts = accounts
        self._executors = executors
        self._files = files
        self._grants = grants

    async def create(self, account: Account, body: Any) -> DownloadView:
        """Join the identical live request, or create one and queue its job."""
        item, spec = await self._item_and_spec(body, allowed=_FIELDS)
        new = NewDownloadRequest(
            catalogue_item_id=item.item.id,
            created_by_id=account.id,
            spec=render_spec(spec),
            dedupe_key=dedupe_key(item.item.id, spec),
        )
        try:
            request, _ = await self._requests.create_or_join(
                new, account.id, then=[JobRequest(RUN_EXTRACT_JOB)]
            )
        except ItemGone:
            raise _item_missing(item.item.id) from None
        return await self._view(request, item)

    async def waiting_for(self, account: Account) -> list[DownloadView]:
        """Every request the caller waits for, oldest first."""
        return [
            await self._view(request) for request in await self._requests.waiting_for(account.id)
        ]

    async def read(self, account: Account, request_id: int) -> DownloadView:
        return await self._view(await self._waited_for(account, request_id))

    async def leave(self, account: Account, request_id: int) -> None:
        """The caller stops waiting; the last one to leave cancels the request and its job."""
        left = None
        if 0 < request_id <= MAX_ID:
            clear = JobRequest(CLEAR_EXTRACT_JOB, {"request_id": str(request_id)})
            left = await self._requests.leave(request_id, account.id, on_cancel=[clear])
        if left is None:
            raise _request_missing(request_id)

    async def estimate(self, account: Account, body: Any) -> int:
        """The bytes the request's file would have (the executor counts the rows)."""
        item, spec = await self._item_and_spec(body, allowed=_FIELDS)
        if not item.item.location:
            raise InvalidInput.one(
                "catalogue_item_id", "The catalogue item names no location to read."
            )
        # The request's own seed: the estimate measures the sample the request would draw.
        seed = NewDownloadRequest(
            item.item.id, account.id, render_spec(spec), dedupe_key(item.item.id, spec)
        ).seed
        query = ExtractQuery(item.item.location, spec, seed, item.item.key_columns)
        try:
            estimate = await self._executors[item.item.executor_type].estimate(query)
        except ExtractUnreadable as exc:
            raise InvalidInput.one("catalogue_item_id", str(exc)) from None
        return estimate.bytes

    async def render_ui_data(self, account: Account, body: Any) -> list[ColumnOperators]:
        """The filter operators each of the item's columns allows, for a request form."""
        item = await self._item(body, allowed=frozenset({"catalogue_item_id"}))
        return operators_by_column(item.item.spec)

    async def _item_and_spec(
        self, body: Any, *, allowed: frozenset[str]
    ) -> tuple[CatalogueEntry, ExtractSpec]:
        entry = await self._item(body, allowed=allowed)
        return entry, parse_spec(body.get("spec"), entry.item.spec)

    async def _item(self, body: Any, *, allowed: frozenset[str]) -> CatalogueEntry:
        """The item `catalogue_item_id` names; the body's other fields are checked after."""
        if not isinstance(body, dict):
            raise InvalidInput.one("non_field_errors", "Expected a JSON object.")
        problems = {name: ["This field is not allowed."] for name in sorted(set(body) - allowed)}
        raw = body.get("catalogue_item_id")
        if "catalogue_item_id" not in body:
            problems["catalogue_item_id"] = ["This field is required."]
        elif isinstance(raw, bool) or not isinstance(raw, int):
            problems["catalogue_item_id"] = [_INTEGER_REQUIRED]
        if problems:
            raise InvalidInput(problems)
        assert isinstance(raw, int)
        if not 0 < raw <= MAX_ID:
            raise _item_missing(raw)
        return await self._catalogue.read(raw)

    async def _waited_for(self, account: Account, request_id: int) -> DownloadRequest:
        """The request, if the caller waits for it: to anyone else it does not exist."""
        if 0 < request_id <= MAX_ID and await self._requests.is_waiter(request_id, account.id):
            request = await self._requests.get(request_id)
            if request is not None:
                return request
        raise _request_missing(request_id)

    async def _view(
        self, request: DownloadRequest, item: CatalogueEntry | None = None
    ) -> DownloadView:
        entry = item or await self._catalogue.read(request.catalogue_item_id)
        creator = None
        if request.created_by_id is not None:
            creator = await self._accounts.get(request.created_by_id)
        return DownloadView(request, entry, creator, await self._uri(request))

    async def _uri(self, request: DownloadRequest) -> str | None:
        """A fresh signed link to a done request's file: minted per read, never stored."""
        if request.status is not RequestStatus.DONE or request.file_id is None:
            return None
        file = await self._files.get(request.file_id)
        if file is None or file.status is not FileStatus.READY:
            return None
        return self._grants.download_url(file).url


def extract_query(request: DownloadRequest, item: CatalogueItem) -> ExtractQuery:
    """What the executor runs for `request`: its spec read again against the item as it is
    now (`InvalidInput` if the item's columns changed under it)."""
    if not item.location:
        raise ExtractUnreadable("the catalogue item names no location to read")
    spec = parse_spec(request.spec, item.spec)
    return ExtractQuery(item.location, spec, request.seed, item.key_columns)


def _item_missing(item_id: object) -> NotFound:
    return ItemNotFound(f"catalogue item {item_id} does not exist")


def _request_missing(request_id: int) -> RequestNotFound:
    return RequestNotFound(f"no download request {request_id} that you wait for")
