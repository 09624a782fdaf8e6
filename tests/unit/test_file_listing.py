"""The caller's own files, a page at a time (`FileService.list_files`), and share links that
live as long as asked (`FileService.issue_download_url(expires_in=)`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from filedock.core.errors import InvalidInput
from filedock.core.model import FileStatus
from filedock.core.principal import Principal
from filedock.core.upload_policy import SIGNED_URL_POLICY
from tests.unit.upload_world import ALICE, BOB, World, new_world

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def world() -> World:
    return new_world()


async def pending_files(world: World, who: Principal, count: int) -> list[str]:
    ids = []
    for n in range(count):
        ticket = await world.uploads.issue_upload_url(who, f"f{n}.pdf", True, SIGNED_URL_POLICY)
        ids.append(ticket.file.id)
    return sorted(ids)


async def test_pages_walk_every_own_file_once_in_id_order(world: World) -> None:
    ids = await pending_files(world, ALICE, 7)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await world.files.list_files(ALICE, after=after, limit=3)
        seen += [file.id for file in page.files]
        pages += 1
        if page.next is None:
            break
        after = page.next
    assert seen == ids
    assert pages == 3


async def test_a_page_that_ends_the_listing_has_no_next(world: World) -> None:
    ids = await pending_files(world, ALICE, 3)
    page = await world.files.list_files(ALICE, limit=3)
    assert [f.id for f in page.files] == ids and page.next is None


async def test_other_users_and_other_realms_files_are_never_listed(world: World) -> None:
    mine = await pending_files(world, ALICE, 2)
    await pending_files(world, BOB, 2)
    await pending_files(world, Principal("cognito", ALICE.user_id, "user"), 2)
    page = await world.files.list_files(ALICE)
    assert [f.id for f in page.files] == mine


async def test_an_admin_lists_only_its_own_files_too(world: World) -> None:
    await pending_files(world, ALICE, 2)
    admin = Principal(ALICE.realm, "root", "admin")
    assert (await world.files.list_files(admin)).files == []


async def test_deleted_files_are_not_listed(world: World) -> None:
    first, second = await pending_files(world, ALICE, 2)
    await world.files.delete(ALICE, first)
    # Marked deleted but not yet purged (the store was down): still never listed.
    world.records.files[second] = replace(world.records.files[second], status=FileStatus.DELETED)
    assert (await world.files.list_files(ALICE)).files == []


@pytest.mark.parametrize("limit", [0, -1, 201])
async def test_a_page_size_outside_1_to_200_is_invalid(world: World, limit: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        await world.files.list_files(ALICE, limit=limit)
    assert refused.value.first_field == "limit"


async def test_a_malformed_cursor_is_invalid(world: World) -> None:
    with pytest.raises(InvalidInput):
        await world.files.list_files(ALICE, after="../x")


async def test_a_download_link_lives_as_long_as_asked(world: World) -> None:
    file_id = await world.signed_upload("report.pdf", PDF)
    await world.processor.process(file_id)
    link = await world.files.issue_download_url(ALICE, file_id, expires_in=3600)
    assert link.expires_in == 3600 and link.lifetime == timedelta(hours=1)
    longest = await world.files.issue_download_url(ALICE, file_id, expires_in=7 * 24 * 3600)
    assert longest.expires_in == 604800
    default = await world.files.issue_download_url(ALICE, file_id)
    assert default.expires_in == 300


@pytest.mark.parametrize("seconds", [0, -5, 604801])
async def test_a_download_link_lifetime_outside_1s_to_7_days_is_invalid(
    world: World, seconds: int
) -> None:
    file_id = await world.signed_upload("report.pdf", PDF)
    await world.processor.process(file_id)
    with pytest.raises(InvalidInput) as refused:
        await world.files.issue_download_url(ALICE, file_id, expires_in=seconds)
    assert refused.value.first_field == "expires_in"

