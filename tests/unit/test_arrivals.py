"""Signed uploads that write no row until their bytes arrive (core/upload_grants.py,
core/arrivals.py), on in-memory ports: what the grant carries, who may see it, how the first
arrival claims the id, and what an unused or deleted grant leaves behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from filedock.core.errors import Conflict, Forbidden, NotFound, NotReady, Unavailable
from filedock.core.files import FileService
from filedock.core.model import FileStatus
from filedock.core.principal import Principal
from filedock.core.processing import FileProcessor
from filedock.core.reconcile import Reconciler
from filedock.core.upload_grants import UploadGrants
from filedock.core.upload_policy import FORM_COMMAND_POLICY, SIGNED_URL_POLICY
from filedock.core.uploads import UploadService, UploadTicket
from filedock.ports.metadata import MetadataUnavailable
from tests.unit.memory_ports import MemoryRecords, MemoryScanner, MemoryStore
from tests.unit.upload_world import ALICE, BOB, Clock

CSV = b"name,size\nreport,12\n"
POLICIES = {p.name: p for p in (SIGNED_URL_POLICY, FORM_COMMAND_POLICY)}


@dataclass
class Granted:
    records: MemoryRecords
    store: MemoryStore
    clock: Clock
    grants: UploadGrants
    uploads: UploadService
    files: FileService
    processor: FileProcessor
    reconciler: Reconciler

    async def ticket(self, who: Principal = ALICE, name: str = "notes.csv") -> UploadTicket:
        return await self.uploads.issue_upload_url(who, name, False, SIGNED_URL_POLICY)

    async def put(self, ticket: UploadTicket, data: bytes = CSV) -> None:
        """The client's PUT straight to S3: the object appears, nobody is told."""
        await self.store.write(key_of(ticket), _chunks(data))


def key_of(ticket: UploadTicket) -> str:
    return ticket.request.url.removeprefix("memory://").split("?")[0]


@pytest.fixture
def world() -> Granted:
    records, store, clock = MemoryRecords(), MemoryStore(), Clock()
    grants = UploadGrants(b"s" * 32, POLICIES)
    uploads = UploadService(records, store, POLICIES, upload_grants=grants, clock=clock)
    files = FileService(
        records,
        store,
        max_upload_bytes=10**9,
        clock=clock,
        notice=uploads.notice_upload,
        unrecorded=uploads.find_unrecorded,
    )
    processor = FileProcessor(records, store, MemoryScanner(), POLICIES, clock=clock)
    reconciler = Reconciler(
        records, store, clock=clock, prefixes=("files/", "uploads/"), adopt=uploads.adopt
    )
    return Granted(records, store, clock, grants, uploads, files, processor, reconciler)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


# Issuing ----------------------------------------------------------------------------------


async def test_issuing_an_upload_url_writes_no_row(world: Granted) -> None:
    tickets = [await world.ticket() for _ in range(20)]
    assert world.records.files == {} and world.records.jobs == []
    assert len({t.file.id for t in tickets}) == 20
    assert len({key_of(t) for t in tickets}) == 20


async def test_the_key_carries_the_grant_but_shows_neither_filename_nor_owner(
    world: Granted,
) -> None:
    ticket = await world.ticket(name="secret-plans.csv")
    key = key_of(ticket)
    assert key.startswith(f"uploads/{ticket.file.id}/")
    assert "secret" not in key and ALICE.user_id not in key and ALICE.realm not in key
    grant = world.grants.of_key(key)
    assert grant is not None and grant.file_id == ticket.file.id
    assert (grant.owner_realm, grant.owner_id) == ("bearer", "alice")
    assert grant.filename == "secret-plans.csv"
    assert grant.content_type == "text/csv" and grant.persist is False


async def test_a_changed_key_or_a_key_signed_with_another_secret_carries_no_grant(
    world: Granted,
) -> None:
    key = key_of(await world.ticket())
    assert world.grants.of_key(key) is not None
    folder, _, payload = key.rpartition("/")
    for changed in (
        key[:-1] + ("A" if key[-1] != "A" else "B"),  # one character of the sealed payload
        f"{folder}/{payload[:5]}/{payload[5:]}",  # the same payload, cut elsewhere
        f"{folder}/{payload[:5]}.{payload[5:]}",  # a character base64 decoding would skip
        f"{key}.arrival",
        key.replace("uploads/", "direct_uploads/", 1),  # another policy's folder
    ):
        assert world.grants.of_key(changed) is None, changed
    assert UploadGrants(b"o" * 32, POLICIES).of_key(key) is None


async def test_only_the_owner_can_read_a_grant_from_its_file_id(world: Granted) -> None:
    ticket = await world.ticket()
    assert world.grants.of_file_id(ALICE, ticket.file.id) is not None
    assert world.grants.of_file_id(BOB, ticket.file.id) is None
    assert world.grants.of_file_id(Principal("other", "alice", "user"), ticket.file.id) is None
    assert world.grants.of_file_id(Principal("bearer", "alice", "admin"), ticket.file.id)


# Before the bytes -------------------------------------------------------------------------


async def test_before_its_bytes_the_owner_sees_pending_and_nobody_else_sees_anything(
    world: Granted,
) -> None:
    ticket = await world.ticket()
    file = await world.uploads.status(ALICE, ticket.file.id)
    assert file.status is FileStatus.PENDING and file.persist is False
    assert file.expires_at == file.created_at + timedelta(hours=24)
    for stranger in (BOB, Principal("bearer", "root", "admin"), Principal("x", "alice", "user")):
        with pytest.raises(NotFound):
            await world.uploads.status(stranger, ticket.file.id)
    with pytest.raises(NotReady):
        await world.files.issue_download_url(ALICE, ticket.file.id)
    assert world.records.files == {}


async def test_an_unused_url_leaves_nothing_and_is_not_found_once_its_session_ended(
    world: Granted,
) -> None:
    ticket = await world.ticket()
    world.clock.now += SIGNED_URL_POLICY.url_expiry + timedelta(minutes=16)
    with pytest.raises(NotFound):
        await world.uploads.status(ALICE, ticket.file.id)
    await world.uploads.sweep()
    await world.reconciler.run()
    assert world.records.files == {} and world.store.objects == {}


# Arrival ----------------------------------------------------------------------------------


async def test_the_blobs_put_makes_the_record_with_everything_the_grant_carried(
    world: Granted,
) -> None:
    ticket = await world.ticket(name="report.csv")
    file = await world.uploads.receive(key_of(ticket), _chunks(CSV), max_bytes=99)
    assert file.id == ticket.file.id and file.status is FileStatus.UPLOADED
    assert (file.owner_realm, file.owner_id, file.filename) == ("bearer", "alice", "report.csv")
    assert file.content_type == "text/csv" and file.size == len(CSV) and file.sha256
    assert file.expires_at == file.created_at + timedelta(hours=24)
    assert [job.payload["file_id"] for job in world.records.jobs] == [file.id]
    assert await world.processor.process(file.id) is FileStatus.READY
    with pytest.raises(Forbidden):
        await world.uploads.status(Principal("bearer", "bob", "user"), file.id)


async def test_a_url_delivers_once_whoever_comes_second(world: Granted) -> None:
    ticket = await world.ticket()
    await world.uploads.receive(key_of(ticket), _chunks(CSV), max_bytes=99)
    with pytest.raises(Conflict):
        await world.uploads.receive(key_of(ticket), _chunks(b"other"), max_bytes=99)
    assert len(world.store.objects) == 1 and len(world.records.jobs) == 1


async def test_two_puts_at_once_make_one_record_and_the_loser_leaves_no_bytes(
    world: Granted,
) -> None:
    ticket = await world.ticket()
    gate = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"second,"
        await gate.wait()
        yield b"late\n"

    late = asyncio.create_task(world.uploads.receive(key_of(ticket), slow(), max_bytes=99))
    await asyncio.sleep(0)
    first = await world.uploads.receive(key_of(ticket), _chunks(CSV), max_bytes=99)
    gate.set()
    with pytest.raises(Conflict):
        await late
    assert list(world.store.objects) == [first.storage_key]
    assert world.store.objects[first.storage_key] == CSV


async def test_a_put_whose_record_commit_is_unknown_or_cancelled_keeps_its_bytes(
    world: Granted,
) -> None:
    # The record committed, then the caller saw an outage, or was cancelled while a shared
    # transaction carried its record on: the bytes the record names must stay.
    insert = world.records.insert

    async def committed_then_lost(*args: Any, **kwargs: Any) -> None:
        await insert(*args, **kwargs)
        raise MetadataUnavailable("connection lost after COMMIT")

    async def committed_then_cancelled(*args: Any, **kwargs: Any) -> None:
        await insert(*args, **kwargs)
        raise asyncio.CancelledError

    outcomes = (
        (committed_then_lost, Unavailable),
        (committed_then_cancelled, asyncio.CancelledError),
    )
    for failing, raised in outcomes:
        ticket = await world.ticket()
        world.records.insert = failing  # type: ignore[method-assign]
        with pytest.raises(raised):
            await world.uploads.receive(key_of(ticket), _chunks(CSV), max_bytes=99)
        world.records.insert = insert  # type: ignore[method-assign]
        recorded = await world.records.get(ticket.file.id)
        assert recorded is not None
        assert world.store.objects[recorded.storage_key] == CSV


async def test_a_status_poll_adopts_bytes_sent_straight_to_the_store(world: Granted) -> None:
    ticket = await world.ticket(name="report.csv")
    await world.put(ticket)
    file = await world.uploads.status(ALICE, ticket.file.id)
    assert file.status is FileStatus.UPLOADED and file.storage_key == key_of(ticket)
    assert file.filename == "report.csv" and file.size == len(CSV)
    again = await world.uploads.status(ALICE, ticket.file.id)
    assert again.revision == file.revision and len(world.records.jobs) == 1


async def test_polls_at_once_make_one_record(world: Granted) -> None:
    ticket = await world.ticket()
    await world.put(ticket)
    seen = await asyncio.gather(*(world.uploads.status(ALICE, ticket.file.id) for _ in range(8)))
    assert len({file.revision for file in seen}) == 1 and len(world.records.jobs) == 1


async def test_a_stranger_polling_the_id_adopts_nothing(world: Granted) -> None:
    ticket = await world.ticket()
    await world.put(ticket)
    with pytest.raises(NotFound):
        await world.uploads.status(BOB, ticket.file.id)
    assert world.records.files == {}


async def test_a_bucket_notification_adopts_the_object(world: Granted) -> None:
    ticket = await world.ticket()
    await world.put(ticket)
    file = await world.uploads.notice_key(key_of(ticket))
    assert file is not None and file.status is FileStatus.UPLOADED
    assert await world.uploads.notice_key("uploads/not-a-grant") is None


async def test_the_sweeper_adopts_objects_nobody_noticed(world: Granted) -> None:
    ticket = await world.ticket()
    await world.put(ticket)
    report = await world.uploads.sweep()
    assert report.noticed == 1
    assert world.records.files[ticket.file.id].status is FileStatus.UPLOADED


async def test_the_reconciler_adopts_instead_of_removing_an_old_grant_object(
    world: Granted,
) -> None:
    ticket = await world.ticket()
    await world.put(ticket)
    world.store.modified[key_of(ticket)] -= timedelta(hours=2)
    report = await world.reconciler.run()
    assert report.adopted == 1 and report.orphans_removed == 0
    assert world.records.files[ticket.file.id].storage_key == key_of(ticket)


async def test_a_grant_object_after_its_adoption_window_is_an_orphan(world: Granted) -> None:
    ticket = await world.ticket()
    await world.put(ticket)
    world.clock.now += timedelta(days=2)
    world.store.modified[key_of(ticket)] = world.clock.now - timedelta(days=2)
    with pytest.raises(NotFound):
        await world.uploads.status(ALICE, ticket.file.id)
    report = await world.reconciler.run()
    assert report.adopted == 0 and report.orphans_removed == 1
    assert world.records.files == {}


# Deleting ---------------------------------------------------------------------------------


async def test_deleting_before_the_bytes_closes_the_url(world: Granted) -> None:
    ticket = await world.ticket()
    await world.files.delete(ALICE, ticket.file.id)
    with pytest.raises(Conflict):
        await world.uploads.receive(key_of(ticket), _chunks(CSV), max_bytes=99)
    await world.put(ticket)  # on S3 the URL still writes; the object becomes no file
    with pytest.raises(NotFound):
        await world.uploads.status(ALICE, ticket.file.id)
    assert await world.uploads.adopt(key_of(ticket)) is not None  # the tombstone, not a file
    assert world.records.files[ticket.file.id].status is FileStatus.DELETED
    assert world.records.jobs == []


async def test_a_stranger_cannot_delete_an_upload_before_its_bytes(world: Granted) -> None:
    ticket = await world.ticket()
    with pytest.raises(NotFound):
        await world.files.delete(BOB, ticket.file.id)
    assert world.records.files == {}


async def test_a_deleted_file_cannot_come_back_through_its_url(world: Granted) -> None:
    ticket = await world.ticket()
    file = await world.uploads.receive(key_of(ticket), _chunks(CSV), max_bytes=99)
    await world.processor.process(file.id)
    await world.files.delete(ALICE, file.id)
    # The record stays, deleted, while the URL's bytes could still be adopted.
    assert world.records.files[file.id].status is FileStatus.DELETED
    with pytest.raises(Conflict):
        await world.uploads.receive(key_of(ticket), _chunks(CSV), max_bytes=99)
    await world.put(ticket)
    await world.uploads.sweep()
    with pytest.raises(NotFound):
        await world.uploads.status(ALICE, file.id)
    # Once nothing of the grant can be adopted, the tombstone goes, and so do stray bytes.
    world.clock.now += SIGNED_URL_POLICY.url_expiry + timedelta(days=1, minutes=20)
    world.store.modified[key_of(ticket)] = world.clock.now - timedelta(days=1)
    await world.uploads.sweep()
    await world.reconciler.run()
    assert world.records.files == {} and world.store.objects == {}
