"""Upload sessions and the processing pipeline, on in-memory ports (no I/O)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest

from filedock.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    NotReady,
    ProcessingRefused,
    TooLarge,
    Unavailable,
    UnsupportedType,
)
from filedock.core.model import FileStatus
from filedock.core.upload_policy import SIGNED_URL_POLICY
from filedock.core.uploads import BucketEvent
from tests.unit.upload_world import ALICE, BOB, World, new_world

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture
def world() -> World:
    return new_world()


async def test_issuing_an_upload_url_records_the_named_type_and_binds_the_put_to_none(
    world: World,
) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "report.pdf", False, SIGNED_URL_POLICY)
    file = world.records.files[ticket.file.id]
    assert file.status is FileStatus.PENDING and file.owner_id == "alice"
    assert file.content_type == "application/pdf" and file.filename == "report.pdf"
    assert file.storage_key.startswith("uploads/") and "report" not in file.storage_key
    assert file.expires_at == world.clock.now + timedelta(hours=24)
    assert ticket.request.method == "PUT"
    # Seed 001's clients PUT with any type or none; processing checks the bytes instead.
    assert ticket.request.headers == {}
    assert ticket.expires_in == 600


async def test_a_type_outside_the_policy_gets_no_url_and_no_record(world: World) -> None:
    with pytest.raises(UnsupportedType):
        await world.uploads.issue_upload_url(ALICE, "setup.exe", True, SIGNED_URL_POLICY)
    assert world.records.files == {}


@pytest.mark.parametrize("name", ["", "  ", "a/b.pdf", "..", "x\x00.pdf", "n" * 300 + ".pdf"])
async def test_unusable_filenames_are_refused(world: World, name: str) -> None:
    with pytest.raises(InvalidInput):
        await world.uploads.issue_upload_url(ALICE, name, True, SIGNED_URL_POLICY)
    assert world.records.files == {}


async def test_polling_notices_the_upload_once_and_queues_one_job(world: World) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    assert (await world.uploads.status(ALICE, ticket.file.id)).status is FileStatus.PENDING
    world.store.objects[ticket.file.storage_key] = b"hello"
    assert (await world.uploads.status(ALICE, ticket.file.id)).status is FileStatus.UPLOADED
    assert (await world.uploads.status(ALICE, ticket.file.id)).status is FileStatus.UPLOADED
    assert [job.payload["file_id"] for job in world.records.jobs] == [ticket.file.id]


async def test_another_users_upload_status_is_forbidden_to_them(world: World) -> None:
    file_id = await world.signed_upload("a.txt", b"hello")
    with pytest.raises(Forbidden):
        await world.uploads.status(BOB, file_id)
    assert world.records.files[file_id].status is FileStatus.UPLOADED


async def test_a_clean_signed_upload_becomes_ready_under_a_private_key(world: World) -> None:
    file_id = await world.signed_upload("report.pdf", PDF)
    landing = world.records.files[file_id].storage_key
    assert await world.processor.process(file_id) is FileStatus.READY
    file = world.records.files[file_id]
    assert file.storage_key.startswith("files/") and landing not in world.store.objects
    assert world.store.objects[file.storage_key] == PDF
    assert file.size == len(PDF) and file.detected_type == "application/pdf"


async def test_a_second_put_after_processing_cannot_change_the_served_bytes(
    world: World,
) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    world.store.objects[ticket.file.storage_key] = b"checked text"
    await world.uploads.status(ALICE, ticket.file.id)
    await world.processor.process(ticket.file.id)
    world.store.objects[ticket.file.storage_key] = EICAR  # the URL has not expired yet
    download = await world.files.open_download(ALICE, ticket.file.id)
    assert b"".join([chunk async for chunk in await download.open()]) == b"checked text"


async def test_an_infected_upload_is_deleted_and_never_served(world: World) -> None:
    file_id = await world.signed_upload("a.txt", b"text " + EICAR)
    assert await world.processor.process(file_id) is FileStatus.INFECTED
    assert world.store.objects == {}
    assert "Test.EICAR" in (world.records.files[file_id].status_reason or "")
    with pytest.raises(NotReady):
        await world.files.open_download(ALICE, file_id)


async def test_scanner_outage_keeps_the_file_processing_until_it_returns(world: World) -> None:
    file_id = await world.signed_upload("a.txt", b"hello")
    world.scanner.down = True
    with pytest.raises(Unavailable):
        await world.processor.process(file_id)
    assert world.records.files[file_id].status is FileStatus.PROCESSING
    world.scanner.down = False
    assert await world.processor.process(file_id) is FileStatus.READY


async def test_a_file_the_scanner_could_not_read_whole_is_rejected(world: World) -> None:
    world.scanner.stream_max_bytes = 10
    file_id = await world.signed_upload("a.txt", b"more than ten bytes")
    assert await world.processor.process(file_id) is FileStatus.REJECTED
    assert "could not read the whole file" in (world.records.files[file_id].status_reason or "")
    assert world.store.objects == {}


async def test_an_upload_over_the_policy_limit_is_rejected_and_deleted(world: World) -> None:
    # A presigned S3 PUT cannot cap the size; processing enforces it afterwards.
    file_id = await world.signed_upload("a.txt", b"x" * (SIGNED_URL_POLICY.max_bytes + 1))
    assert await world.processor.process(file_id) is FileStatus.REJECTED
    assert "over this upload's limit" in (world.records.files[file_id].status_reason or "")
    assert world.store.objects == {}


async def test_a_pdf_whose_bytes_are_an_executable_is_rejected(world: World) -> None:
    file_id = await world.signed_upload("report.pdf", ELF)
    assert await world.processor.process(file_id) is FileStatus.REJECTED
    assert "not the declared application/pdf" in (world.records.files[file_id].status_reason or "")
    assert world.store.objects == {}


async def test_sweeper_notices_unpolled_uploads(world: World) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    world.store.objects[ticket.file.storage_key] = b"hello"
    report = await world.uploads.sweep()
    assert report.noticed == 1
    assert world.records.files[ticket.file.id].status is FileStatus.UPLOADED


async def test_sweeper_drops_sessions_never_used_after_they_expire(world: World) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    assert (await world.uploads.sweep()).abandoned == 0
    world.clock.now += timedelta(hours=1)
    assert (await world.uploads.sweep()).abandoned == 1
    assert ticket.file.id not in world.records.files


async def test_temporary_files_go_after_their_lifetime_and_kept_ones_stay(world: World) -> None:
    temporary = await world.signed_upload("t.txt", b"temporary", persist=False)
    kept = await world.signed_upload("k.txt", b"kept", persist=True)
    for file_id in (temporary, kept):
        await world.processor.process(file_id)
    world.clock.now += timedelta(hours=23)
    assert (await world.uploads.sweep()).expired == 0
    world.clock.now += timedelta(hours=2)
    assert (await world.uploads.sweep()).expired == 1
    assert temporary not in world.records.files and kept in world.records.files
    assert list(world.store.objects.values()) == [b"kept"]


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_received_bytes_of_a_pending_upload_are_stored_and_noticed(world: World) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    file = await world.uploads.receive(ticket.file.storage_key, _chunks(b"he", b"llo"), max_bytes=5)
    assert file.status is FileStatus.UPLOADED and file.size == 5
    assert file.storage_key.startswith(ticket.file.storage_key)  # this request's own key
    assert world.store.objects == {file.storage_key: b"hello"}
    assert file.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert [job.payload["file_id"] for job in world.records.jobs] == [ticket.file.id]


async def test_receiving_more_than_the_limit_stores_nothing(world: World) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    with pytest.raises(TooLarge):
        await world.uploads.receive(ticket.file.storage_key, _chunks(b"hello!"), max_bytes=5)
    assert world.store.objects == {}
    assert world.records.files[ticket.file.id].status is FileStatus.PENDING


async def test_an_empty_signed_upload_is_refused_before_anything_is_stored(world: World) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    with pytest.raises(InvalidInput) as refused:
        await world.uploads.receive(ticket.file.storage_key, _chunks(b"", b""), max_bytes=5)
    assert refused.value.fields == {"body": ["the body is empty"]}
    assert world.store.objects == {}
    assert world.records.files[ticket.file.id].status is FileStatus.PENDING


async def test_an_empty_signed_upload_is_taken_where_its_policy_allows_empty_files() -> None:
    policy = replace(SIGNED_URL_POLICY, allow_empty=True)
    world = new_world(policy)
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, policy)
    file = await world.uploads.receive(ticket.file.storage_key, _chunks(b""), max_bytes=5)
    assert file.status is FileStatus.UPLOADED and file.size == 0
    assert await world.processor.process(file.id) is FileStatus.READY


async def test_a_second_upload_to_a_closed_session_is_refused_and_keeps_the_first(
    world: World,
) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    first = await world.uploads.receive(ticket.file.storage_key, _chunks(b"first"), max_bytes=99)
    with pytest.raises(Conflict):
        await world.uploads.receive(ticket.file.storage_key, _chunks(b"second"), max_bytes=99)
    assert world.store.objects == {first.storage_key: b"first"}


async def _slow(data: bytes, gate: asyncio.Event) -> AsyncIterator[bytes]:
    yield data[:1]
    await gate.wait()
    yield data[1:]


async def test_two_uploads_racing_on_one_url_keep_the_first_to_finish_and_drop_the_other(
    world: World,
) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    gate = asyncio.Event()
    slow = asyncio.create_task(
        world.uploads.receive(ticket.file.storage_key, _slow(b"second", gate), max_bytes=99)
    )
    await asyncio.sleep(0)  # the slow one has started and read the pending record
    fast = await world.uploads.receive(ticket.file.storage_key, _chunks(b"first"), max_bytes=99)
    gate.set()
    with pytest.raises(Conflict):
        await slow
    assert world.store.objects == {fast.storage_key: b"first"}
    assert world.records.files[ticket.file.id] == fast
    assert len(world.records.jobs) == 1


async def test_an_upload_racing_a_delete_is_refused_and_leaves_nothing(world: World) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    gate = asyncio.Event()
    slow = asyncio.create_task(
        world.uploads.receive(ticket.file.storage_key, _slow(b"bytes", gate), max_bytes=99)
    )
    await asyncio.sleep(0)
    await world.files.delete(ALICE, ticket.file.id)
    gate.set()
    with pytest.raises(Conflict):
        await slow
    assert world.store.objects == {}
    assert world.records.files == {}


async def test_receiving_for_a_key_with_no_upload_session_stores_nothing(world: World) -> None:
    with pytest.raises(Conflict):
        await world.uploads.receive("uploads/unknown", _chunks(b"x"), max_bytes=99)
    assert "uploads/unknown" not in world.store.objects


async def test_a_ready_file_is_opened_by_key_and_an_infected_one_never(world: World) -> None:
    clean = await world.signed_upload("report.pdf", PDF)
    await world.processor.process(clean)
    download = await world.files.open_by_key(world.records.files[clean].storage_key)
    assert download.file.id == clean
    infected = await world.signed_upload("virus.txt", EICAR)
    assert await world.processor.process(infected) is FileStatus.INFECTED
    with pytest.raises(NotReady):
        await world.files.open_by_key(world.records.files[infected].storage_key)


async def test_a_rejected_file_is_refused_for_good_when_asked_for_a_download_url(
    world: World,
) -> None:
    file_id = await world.signed_upload("report.pdf", ELF)
    assert await world.processor.process(file_id) is FileStatus.REJECTED
    with pytest.raises(ProcessingRefused):
        await world.files.issue_download_url(ALICE, file_id)


async def test_a_download_url_of_a_ready_file_is_a_signed_get_named_after_the_file(
    world: World,
) -> None:
    file_id = await world.signed_upload("report.pdf", PDF)
    await world.processor.process(file_id)
    request = await world.files.issue_download_url(ALICE, file_id)
    assert request.method == "GET"
    assert request.url == f"memory://{world.records.files[file_id].storage_key}?GET"
    with pytest.raises(Forbidden):
        await world.files.issue_download_url(BOB, file_id)


async def test_removing_an_object_by_key_marks_its_file_deleted(world: World) -> None:
    file_id = await world.signed_upload("report.pdf", PDF)
    await world.processor.process(file_id)
    key = world.records.files[file_id].storage_key
    await world.uploads.remove_object(key)
    assert key not in world.store.objects
    assert world.records.files[file_id].status is FileStatus.DELETED
    with pytest.raises(NotFound):
        await world.files.open_by_key(key)


async def test_bucket_events_notice_uploads_and_removals_of_our_keys_only(world: World) -> None:
    ticket = await world.uploads.issue_upload_url(ALICE, "a.txt", True, SIGNED_URL_POLICY)
    key = ticket.file.storage_key
    created = BucketEvent(created=True, bucket="memory", object_name=key)
    assert await world.uploads.notice_bucket_events([created]) == 0  # nothing arrived yet
    world.store.objects[key] = b"hello"
    elsewhere = BucketEvent(created=True, bucket="other-bucket", object_name=key)
    assert await world.uploads.notice_bucket_events([elsewhere]) == 0
    assert world.records.files[ticket.file.id].status is FileStatus.PENDING
    # A repeated notification names the upload again but queues no second job.
    assert await world.uploads.notice_bucket_events([created, created]) == 2
    assert world.records.files[ticket.file.id].status is FileStatus.UPLOADED
    assert len(world.records.jobs) == 1


async def test_a_removal_event_hides_a_ready_file_but_keeps_an_infected_ones_reason(
    world: World,
) -> None:
    ready = await world.signed_upload("report.pdf", PDF)
    infected = await world.signed_upload("virus.txt", EICAR)
    await world.processor.process(ready)
    await world.processor.process(infected)
    events = [
        BucketEvent(False, "memory", world.records.files[file_id].storage_key)
        for file_id in (ready, infected)
    ]
    assert await world.uploads.notice_bucket_events(events) == 1
    assert world.records.files[ready].status is FileStatus.DELETED
    assert world.records.files[infected].status is FileStatus.INFECTED
