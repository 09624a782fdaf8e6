"""The data catalogue: items researchers search and read, admins create, change and profile.

Bodies arrive as the seed's JSON (`name`, `executor_type`, `spec`, `sample`,
`maintained_by_id`, and beyond the seed a `location`); every rule about them is here, so the
face only parses JSON and renders. Deleting an item with live download requests is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from filedock.core.account_model import Account
from filedock.core.catalogue_model import (
    DATASETS_PREFIX,
    MAX_NAME_LENGTH,
    STORE_SCHEME,
    CatalogueItem,
    ColumnSpec,
    ExecutorType,
    LocationRefused,
    NewCatalogueItem,
    store_location_key,
    validate_key_columns,
    validate_sample,
    validate_spec,
)
from filedock.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from filedock.core.files import Clock, utc_now
from filedock.core.principal import Principal
from filedock.ports.accounts import AccountStore
from filedock.ports.catalogue import (
    CatalogueItems,
    DatasetProfiler,
    DatasetUnreadable,
    ItemNameTaken,
)

MAX_RESULTS = 200
_NAME_TAKEN = "catalogue item with this name already exists."
MAX_LOCATION_LENGTH = 1024
# Item and account ids are the stores' serials, 32-bit integers on PostgreSQL.
MAX_ID = 2**31 - 1
_FIELDS = frozenset(
    {"name", "executor_type", "spec", "sample", "maintained_by_id", "location", "key_columns"}
)


class InvalidQuery(InvalidInput):
    """The search's query parameters are wrong (the seed names this apart from bodies)."""


class ItemNotFound(NotFound):
    """No catalogue item has this id."""


class UnknownAccount(InvalidInput):
    """A body names an account that does not exist (the seed reports it apart)."""


class ItemInUse(Conflict):
    """The item has download requests that are not cancelled."""

    def __init__(self, item_id: int, live_requests: int) -> None:
        super().__init__(f"catalogue item {item_id} has {live_requests} live download requests")
        self.item_id = item_id
        self.live_requests = live_requests


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """An item with the accounts it names, as every answer about it shows them."""

    item: CatalogueItem
    created_by: Account | None
    updated_by: Account | None
    maintained_by: Account | None


class CatalogueService:
    def __init__(
        self,
        items: CatalogueItems,
        accounts: AccountStore,
        profiler: DatasetProfiler,
        *,
        datasets_prefix: str = DATASETS_PREFIX,
        clock: Clock = utc_now,
    ) -> None:
        self._items = items
        self._accounts = accounts
        self._profiler = profiler
        self._datasets_prefix = datasets_prefix
        self._clock = clock

    async def search(self, query: str | None) -> list[CatalogueEntry]:
        """Items whose name contains `query`, case-insensitively; the query is required."""
        if query is None or not query.strip():
            raise InvalidQuery.one("query", "This field is required.")
        if "\x00" in query:
            # SQLite would cut the pattern there and match every item; PostgreSQL refuses it.
            raise InvalidQuery.one("query", "The query must not contain NUL characters.")
        found = await self._items.search(query.strip(), limit=MAX_RESULTS)
        return [await self._entry(item) for item in found]

    async def read(self, item_id: int) -> CatalogueEntry:
        return await self._entry(await self._item(item_id))

    async def create(self, admin: Principal, body: Any) -> CatalogueEntry:
        _require_admin(admin)
        fields = await self._checked(body)
        author = int(admin.user_id)
        new = NewCatalogueItem(
            name=fields["name"],
            executor_type=fields.get("executor_type", ExecutorType.DUCKDB),
            spec=fields["spec"],
            sample=fields.get("sample", []),
            maintained_by_id=fields.get("maintained_by_id"),
            created_by_id=author,
            updated_by_id=author,
            location=fields.get("location"),
            key_columns=fields.get("key_columns", ()),
        )
        try:
            return await self._entry(await self._items.insert(new))
        except ItemNameTaken:
            raise InvalidInput.one("name", _NAME_TAKEN) from None

    async def update(self, admin: Principal, item_id: int, body: Any) -> CatalogueEntry:
        _require_admin(admin)
        item = await self._item(item_id)
        fields = await self._checked(body)
        changed = replace(
            item,
            name=fields["name"],
            executor_type=fields.get("executor_type", item.executor_type),
            spec=fields["spec"],
            sample=fields.get("sample", item.sample),
            maintained_by_id=fields.get("maintained_by_id", item.maintained_by_id),
            location=fields.get("location", item.location),
            key_columns=fields.get("key_columns", _kept_keys(item, fields["spec"])),
            updated_by_id=int(admin.user_id),
            updated_at=self._clock(),
        )
        try:
            return await self._entry(await self._write(item, changed))
        except ItemNameTaken:
            raise InvalidInput.one("name", _NAME_TAKEN) from None

    async def delete(self, admin: Principal, item_id: int) -> CatalogueEntry:
        _require_admin(admin)
        entry = await self._entry(await self._item(item_id))
        # One step in the store: a request created meanwhile either counts here or finds
        # the item gone, never a request left without its item.
        live = await self._items.delete(item_id)
        if live:
            raise ItemInUse(item_id, live)
        return entry

    async def profile(self, admin: Principal, item_id: int) -> CatalogueEntry:
        """Fill the item's spec and sample from its data (`location`)."""
        _require_admin(admin)
        item = await self._item(item_id)
        if not item.location:
            raise InvalidInput.one("location", "The item names no location to profile.")
        try:
            found = await self._profiler.profile(item.location)
        except DatasetUnreadable as exc:
            raise InvalidInput.one("location", str(exc)) from None
        spec = validate_spec(found.spec)
        profiled = replace(
            item,
            spec=spec,
            key_columns=_kept_keys(item, spec),
            sample=found.sample,
            updated_by_id=int(admin.user_id),
            updated_at=self._clock(),
        )
        # Profiling takes a while: an edit made meanwhile (another location, say) wins, and
        # this profile, of what the item was, is refused rather than written over it.
        return await self._entry(await self._write(item, profiled))

    async def _write(self, read: CatalogueItem, changed: CatalogueItem) -> CatalogueItem:
        """Write `changed` over the item as `read`, a compare-and-set on its revision."""
        written = replace(changed, revision=uuid.uuid4().hex)
        if await self._items.update(read, written):
            return written
        if await self._items.get(read.id) is None:
            raise ItemNotFound(f"catalogue item {read.id} does not exist")
        raise Conflict(f"catalogue item {read.id} changed meanwhile; read it and try again")

    async def _item(self, item_id: int) -> CatalogueItem:
        item = await self._items.get(item_id) if _storable_id(item_id) else None
        if item is None:
            raise ItemNotFound(f"catalogue item {item_id} does not exist")
        return item

    async def _entry(self, item: CatalogueItem) -> CatalogueEntry:
        """`item` with its creator, last editor and maintainer (None once removed)."""
        known: dict[int, Account | None] = {}
        for account_id in (item.created_by_id, item.updated_by_id, item.maintained_by_id):
            if account_id is not None and account_id not in known:
                known[account_id] = await self._accounts.get(account_id)

        def account(account_id: int | None) -> Account | None:
            return None if account_id is None else known[account_id]

        return CatalogueEntry(
            item,
            account(item.created_by_id),
            account(item.updated_by_id),
            account(item.maintained_by_id),
        )

    async def _checked(self, body: Any) -> dict[str, Any]:
        """The body's fields, each checked; every problem at once, as the seed lists them."""
        if not isinstance(body, dict):
            raise InvalidInput.one("non_field_errors", "Expected a JSON object.")
        problems: dict[str, list[str]] = {
            name: ["This field is not allowed."] for name in sorted(set(body) - _FIELDS)
        }
        fields: dict[str, Any] = {}
        for name, check in (
            ("name", _name),
            ("executor_type", _executor_type),
            ("spec", validate_spec),
            ("sample", validate_sample),
            ("location", partial(_location, datasets_prefix=self._datasets_prefix)),
        ):
            if name not in body:
                if name in ("name", "spec"):
                    problems[name] = ["This field is required."]
                continue
            try:
                fields[name] = check(body[name])
            except InvalidInput as exc:
                problems.update(exc.fields)
        if "key_columns" in body and "spec" in fields:
            try:
                fields["key_columns"] = validate_key_columns(body["key_columns"], fields["spec"])
            except InvalidInput as exc:
                problems.update(exc.fields)
        if problems:
            raise InvalidInput(problems)
        if "maintained_by_id" in body:
            fields["maintained_by_id"] = await self._maintainer(body["maintained_by_id"])
        return fields

    async def _maintainer(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput.one("maintained_by_id", "A valid integer is required.")
        if not _storable_id(value) or await self._accounts.get(value) is None:
            raise UnknownAccount.one(
                "maintained_by", f"account instance with id {value} does not exist."
            )
        return value


def _kept_keys(item: CatalogueItem, spec: list[ColumnSpec]) -> tuple[str, ...]:
    """The item's key columns that the new spec still has (a key cannot name a lost column)."""
    names = {column["name"] for column in spec}
    return tuple(name for name in item.key_columns if name in names)


def _storable_id(value: int) -> bool:
    """Whether an item or account id could be stored at all: one that could not names
    nothing, and is answered so without a lookup that would overflow the store's integer."""
    return 0 < value <= MAX_ID


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("only admins may change the catalogue")


def _name(value: Any) -> str:
    """Any printable text, trimmed, of 1 to 200 characters: the seed's own items are named
    `Dian Flatley` and `Dr. Joselyn Franecki PhD`. No control or format characters (a newline,
    a NUL, a bidi override): a name is shown in lists and logs as it is."""
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidInput.one(
            "name", f"Enter a name of 1 to {MAX_NAME_LENGTH} printable characters."
        )
    return name


def _executor_type(value: Any) -> ExecutorType:
    try:
        return ExecutorType(value)
    except ValueError:
        choices = ", ".join(kind.value for kind in ExecutorType)
        raise InvalidInput.one(
            "executor_type", f'"{value}" is not a valid choice ({choices}).'
        ) from None


def _location(value: Any, *, datasets_prefix: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_LOCATION_LENGTH:
        raise InvalidInput.one("location", "Enter a path of a Parquet or CSV dataset.")
    location = value.strip()
    if not location.isprintable():
        # No dataset path holds a control character; PostgreSQL refuses a NUL outright.
        raise InvalidInput.one("location", "A path must not contain control characters.")
    if location.startswith(STORE_SCHEME):
        # The profiler checks again: items stored before this rule must not slip through.
        try:
            store_location_key(location, datasets_prefix)
        except LocationRefused as exc:
            raise InvalidInput.one("location", str(exc)) from None
    return location
