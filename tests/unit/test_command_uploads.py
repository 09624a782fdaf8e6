"""Form uploads by client command (seed 002), on in-memory ports."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from filedock.core.errors import Forbidden
from filedock.core.model import FileStatus
from filedock.core.principal import Principal
from filedock.core.upload_policy import FORM_COMMAND_POLICY
from filedock.core.uploads import UNDECLARED_TYPE
from tests.unit.upload_world import ALICE, BOB, World, new_world

COMMAND = "e090cbd2-ded4-4fd4-be23-4c17ad77ca07"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200


@pytest.fixture
def world() -> World:
    return new_world()


async def test_a_command_records_a_pending_upload_under_a_direct_uploads_key(
    world: World,
) -> None:
    ticket = await world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY)
    file = world.records.files[ticket.file.id]
    assert file.status is FileStatus.PENDING and file.owner_id == "alice"
    assert file.storage_key.startswith("direct_uploads/")
    assert (file.parent_kind, file.parent_id) == ("upload_command", COMMAND)
    assert file.content_type == UNDECLARED_TYPE
    assert ticket.request.method == "POST" and ticket.request.fields["key"] == file.storage_key


async def test_the_same_command_again_gets_exactly_the_first_answer(world: World) -> None:
    first = await world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY)
    world.clock.now += timedelta(minutes=50)
    again = await world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY)
    assert again.file.id == first.file.id
    assert again.request == first.request
    assert len(world.records.files) == 1


async def test_the_same_command_after_its_upload_was_processed_gets_the_first_key(
    world: World,
) -> None:
    first = await world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY)
    key = first.request.fields["key"]
    world.store.objects[key] = b"%PDF-1.4 hello"
    await world.uploads.status(ALICE, first.file.id)
    await world.processor.process(first.file.id)
    assert world.records.files[first.file.id].storage_key != key  # the private copy
    again = await world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY)
    assert again.request.fields["key"] == key
    assert again.request == first.request


async def test_two_first_commands_at_once_make_one_file(world: World) -> None:
    both = await asyncio.gather(
        world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY),
        world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY),
    )
    assert both[0].request == both[1].request
    assert len(world.records.files) == 1


async def test_the_same_command_id_in_another_realm_is_another_upload(world: World) -> None:
    first = await world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY)
    other_realm = Principal("bearer:https://idp.example", ALICE.user_id, "user")
    theirs = await world.uploads.issue_command_upload(other_realm, COMMAND, FORM_COMMAND_POLICY)
    assert theirs.file.id != first.file.id
    assert theirs.request.fields["key"] != first.request.fields["key"]


async def test_another_users_command_id_is_refused_and_changes_nothing(world: World) -> None:
    first = await world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY)
    with pytest.raises(Forbidden):
        await world.uploads.issue_command_upload(BOB, COMMAND, FORM_COMMAND_POLICY)
    assert list(world.records.files) == [first.file.id]


async def test_a_form_upload_of_any_type_is_processed_and_an_executable_rejected(
    world: World,
) -> None:
    pdf = await world.uploads.issue_command_upload(ALICE, COMMAND, FORM_COMMAND_POLICY)
    world.store.objects[pdf.file.storage_key] = PDF
    await world.uploads.notice_key(pdf.file.storage_key)
    assert await world.processor.process(pdf.file.id) is FileStatus.READY
    assert world.records.files[pdf.file.id].detected_type == "application/pdf"
    other = "0f1d9c1e-7b53-4a5b-9a3c-3f7c0b3b1e2a"
    elf = await world.uploads.issue_command_upload(ALICE, other, FORM_COMMAND_POLICY)
    world.store.objects[elf.file.storage_key] = ELF
    await world.uploads.notice_key(elf.file.storage_key)
    assert await world.processor.process(elf.file.id) is FileStatus.REJECTED
