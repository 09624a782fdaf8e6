"""Schedule documents (seed 000) on in-memory ports: ownership, participants, rules, keys,
signed URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from filedock.core.account_model import ApiKey
from filedock.core.errors import Forbidden, InvalidInput, NotFound, NotReady
from filedock.core.model import FileStatus
from filedock.core.principal import COGNITO_REALM, Principal
from filedock.core.processing import FileProcessor
from filedock.core.schedules import DUPLICATE_NAME, ScheduleDocuments, ScheduleRules
from filedock.core.upload_policy import UploadPolicy
from filedock.core.uploads import UploadService
from tests.unit.memory_ports import MemoryRecords, MemoryScanner, MemoryStore
from tests.unit.memory_schedules import MemoryScheduleOwners, MemoryScheduleParticipants

OWNER = Principal(COGNITO_REALM, "owner", "user")
STRANGER = Principal(COGNITO_REALM, "stranger", "user")
ADMIN = Principal(COGNITO_REALM, "root", "admin")
PAYEE = Principal(COGNITO_REALM, "payee", "user")
BACK_END = ApiKey(
    id="0b0c3a52-4b8e-4d0e-9f59-4c3a3a0e2d11",
    name="payments",
    prefix="fdk_abcd",
    key_hash="0" * 64,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)
SCHEDULE = "7e06b0da-5959-40bc-b583-464b721b3f77"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
POLICY = UploadPolicy(
    name="schedules",
    allowed_types=("application/pdf", "text/csv"),
    max_bytes=10_000,
    key_prefix="schedules/",
    url_expiry=timedelta(seconds=20),
    temporary_lifetime=timedelta(hours=24),
)


class Documents:
    def __init__(self, max_documents: int = 3) -> None:
        self.records, self.store = MemoryRecords(), MemoryStore()
        rules = ScheduleRules(("pdf", "csv"), max_documents)
        self.owners = MemoryScheduleOwners()
        self.participants = MemoryScheduleParticipants()
        self.service = ScheduleDocuments(
            self.records, self.store, self.owners, POLICY, rules, participants=self.participants
        )
        policies = {POLICY.name: POLICY}
        self.uploads = UploadService(self.records, self.store, policies)
        self.processor = FileProcessor(self.records, self.store, MemoryScanner(), policies)

    async def uploaded(
        self, filename: str = "file.pdf", data: bytes = PDF, *, by: Principal = OWNER
    ) -> str:
        attached = await self.service.attach(by, SCHEDULE, filename)
        self.store.objects[attached.file.storage_key] = data  # the browser's form post
        await self.uploads.notice_key(attached.file.storage_key)
        await self.processor.process(attached.file.id)
        return attached.file.id


@pytest.fixture
def docs() -> Documents:
    return Documents()


async def test_the_first_attach_claims_the_schedule_and_keys_never_hold_the_filename(
    docs: Documents,
) -> None:
    attached = await docs.service.attach(OWNER, SCHEDULE, "Quarterly report.pdf")
    file = attached.file
    assert file.storage_key == f"schedules/{SCHEDULE}/{file.id}.pdf"
    assert file.filename == "Quarterly report.pdf" and file.status is FileStatus.PENDING
    assert (file.parent_kind, file.parent_id) == ("schedule", SCHEDULE)
    assert docs.owners.owners[SCHEDULE] == "owner"
    assert attached.form.method == "POST" and attached.form.fields["key"] == file.storage_key


async def test_another_user_cannot_attach_list_read_or_delete_but_an_admin_can(
    docs: Documents,
) -> None:
    document = await docs.uploaded()
    with pytest.raises(Forbidden):
        await docs.service.attach(STRANGER, SCHEDULE, "other.pdf")
    with pytest.raises(Forbidden):
        await docs.service.documents(STRANGER, SCHEDULE)
    with pytest.raises(Forbidden):
        await docs.service.read_url(STRANGER, document)
    with pytest.raises(Forbidden):
        await docs.service.delete_url(STRANGER, document)
    with pytest.raises(Forbidden):
        await docs.service.remove(STRANGER, SCHEDULE, document)
    assert [f.id for f in await docs.service.documents(ADMIN, SCHEDULE)] == [document]
    assert (await docs.service.read_url(ADMIN, document)).method == "GET"
    await docs.service.remove(ADMIN, SCHEDULE, document)
    assert document not in docs.records.files


@pytest.mark.parametrize("filename", ["tool.exe", "page.html", "noextension", "archive.pdf.zip"])
async def test_an_unsupported_format_is_refused_with_the_seeds_words(
    docs: Documents, filename: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await docs.service.attach(OWNER, SCHEDULE, filename)
    assert refused.value.first_message == f"{filename} is not in supported format"
    assert docs.records.files == {} and SCHEDULE not in docs.owners.owners


async def test_the_same_filename_twice_in_a_schedule_is_refused(docs: Documents) -> None:
    await docs.service.attach(OWNER, SCHEDULE, "file.pdf")
    with pytest.raises(InvalidInput) as refused:
        await docs.service.attach(OWNER, SCHEDULE, "file.pdf")
    assert refused.value.first_message == DUPLICATE_NAME
    assert len(docs.records.files) == 1


async def test_a_schedule_holds_at_most_the_configured_number_of_documents(
    docs: Documents,
) -> None:
    for n in range(3):
        await docs.service.attach(OWNER, SCHEDULE, f"file-{n}.csv")
    with pytest.raises(InvalidInput) as refused:
        await docs.service.attach(OWNER, SCHEDULE, "one-too-many.csv")
    assert "at most 3 documents" in refused.value.first_message
    assert len(docs.records.files) == 3


async def test_a_document_not_yet_processed_has_no_read_url(docs: Documents) -> None:
    attached = await docs.service.attach(OWNER, SCHEDULE, "file.pdf")
    with pytest.raises(NotReady):
        await docs.service.read_url(OWNER, attached.file.id)


async def test_unknown_documents_and_documents_of_other_schedules_are_not_found(
    docs: Documents,
) -> None:
    document = await docs.uploaded()
    with pytest.raises(NotFound):
        await docs.service.read_url(OWNER, "56a4602f-a621-46ec-b1df-c55d4c60f10b")
    with pytest.raises(NotFound):
        await docs.service.remove(OWNER, "00000000-0000-4000-8000-000000000000", document)
    assert document in docs.records.files


@pytest.mark.parametrize("bad", ["", "not-a-uuid", "../../etc", "7e06b0da"])
async def test_schedule_and_document_ids_must_be_uuids(docs: Documents, bad: str) -> None:
    with pytest.raises(InvalidInput):
        await docs.service.attach(OWNER, bad, "file.pdf")
    with pytest.raises(InvalidInput):
        await docs.service.read_url(OWNER, bad)


async def test_a_schedule_never_used_lists_no_documents(docs: Documents) -> None:
    assert await docs.service.documents(STRANGER, SCHEDULE) == []
    assert SCHEDULE not in docs.owners.owners


async def test_read_url_names_the_file_and_lives_twenty_seconds(docs: Documents) -> None:
    document = await docs.uploaded("Quarterly report.pdf")
    before = datetime.now(UTC)
    signed = await docs.service.read_url(OWNER, document)
    assert timedelta(seconds=19) <= signed.expires_at - before <= timedelta(seconds=21)
    assert docs.records.files[document].storage_key in signed.url


async def declare(docs: Documents, *subjects: str) -> None:
    await docs.service.declare_participants(BACK_END, SCHEDULE, list(subjects))


async def test_a_declared_participant_may_do_all_the_owner_does(docs: Documents) -> None:
    document = await docs.uploaded()
    await declare(docs, "owner", "payee")
    attached = await docs.service.attach(PAYEE, SCHEDULE, "invoice.pdf")
    listed = await docs.service.documents(PAYEE, SCHEDULE)
    assert [f.id for f in listed] == [document, attached.file.id]
    assert (await docs.service.read_url(PAYEE, document)).method == "GET"
    assert (await docs.service.delete_url(PAYEE, document)).method == "DELETE"
    await docs.service.remove(PAYEE, SCHEDULE, document)
    assert document not in docs.records.files
    assert docs.owners.owners[SCHEDULE] == "owner"  # participants never become the owner


async def test_a_user_not_declared_stays_forbidden_beside_the_participants(
    docs: Documents,
) -> None:
    document = await docs.uploaded()
    await declare(docs, "payee")
    with pytest.raises(Forbidden):
        await docs.service.attach(STRANGER, SCHEDULE, "other.pdf")
    with pytest.raises(Forbidden):
        await docs.service.documents(STRANGER, SCHEDULE)
    with pytest.raises(Forbidden):
        await docs.service.read_url(STRANGER, document)
    with pytest.raises(Forbidden):
        await docs.service.remove(STRANGER, SCHEDULE, document)
    assert document in docs.records.files


async def test_the_owner_keeps_access_when_the_back_end_leaves_it_out(docs: Documents) -> None:
    document = await docs.uploaded()
    await declare(docs, "payee")
    assert [f.id for f in await docs.service.documents(OWNER, SCHEDULE)] == [document]
    await docs.service.attach(OWNER, SCHEDULE, "second.pdf")


async def test_replacing_the_list_takes_access_from_whoever_it_drops(docs: Documents) -> None:
    document = await docs.uploaded()
    await declare(docs, "payee")
    assert (await docs.service.read_url(PAYEE, document)).method == "GET"
    await declare(docs, "someone-else")
    with pytest.raises(Forbidden):
        await docs.service.read_url(PAYEE, document)
    with pytest.raises(Forbidden):
        await docs.service.attach(PAYEE, SCHEDULE, "late.pdf")


async def test_a_declared_schedule_is_claimed_only_by_one_of_its_participants(
    docs: Documents,
) -> None:
    await declare(docs, "owner", "payee")
    with pytest.raises(Forbidden):
        await docs.service.attach(STRANGER, SCHEDULE, "first.pdf")
    assert SCHEDULE not in docs.owners.owners and docs.records.files == {}
    await docs.service.attach(PAYEE, SCHEDULE, "first.pdf")
    assert docs.owners.owners[SCHEDULE] == "payee"
    assert len(await docs.service.documents(OWNER, SCHEDULE)) == 1


async def test_an_admin_may_claim_a_declared_schedule(docs: Documents) -> None:
    await declare(docs, "payee")
    await docs.service.attach(ADMIN, SCHEDULE, "first.pdf")
    assert docs.owners.owners[SCHEDULE] == "root"


@pytest.mark.parametrize("realm", ["bearer", "api-key:0b0c3a52", "cosphere"])
async def test_another_realms_caller_is_no_participant_or_owner_whatever_its_id(
    docs: Documents, realm: str
) -> None:
    document = await docs.uploaded()
    await declare(docs, "owner", "payee")
    for impostor in (Principal(realm, "payee", "user"), Principal(realm, "owner", "admin")):
        with pytest.raises(Forbidden):
            await docs.service.documents(impostor, SCHEDULE)
        with pytest.raises(Forbidden):
            await docs.service.attach(impostor, SCHEDULE, "other.pdf")
        with pytest.raises(NotFound):  # another realm's file is not found, as everywhere
            await docs.service.read_url(impostor, document)


async def test_declaring_collapses_repeats_and_answers_the_list_sorted(docs: Documents) -> None:
    declared = await docs.service.declare_participants(
        BACK_END, SCHEDULE.upper(), ["payee", "owner", "payee"]
    )
    assert (declared.schedule_id, declared.subjects) == (SCHEDULE, ("owner", "payee"))
    assert docs.participants.declared[SCHEDULE] == {"owner", "payee"}
    assert await docs.service.declared_participants(BACK_END, SCHEDULE) == declared
    assert SCHEDULE not in docs.owners.owners  # declaring does not claim the schedule


async def test_a_schedule_never_declared_has_no_participants(docs: Documents) -> None:
    declared = await docs.service.declared_participants(BACK_END, SCHEDULE)
    assert declared.subjects == ()


@pytest.mark.parametrize(
    "subjects",
    [
        None,
        "payee",
        {"payee": True},
        [],
        [f"user-{n}" for n in range(21)],
        [""],
        ["   "],
        ["x" * 257],
        ["payee", 7],
        ["payee", None],
    ],
)
async def test_a_bad_participant_list_is_refused_and_changes_nothing(
    docs: Documents, subjects: object
) -> None:
    await declare(docs, "payee")
    with pytest.raises(InvalidInput) as refused:
        await docs.service.declare_participants(BACK_END, SCHEDULE, subjects)
    assert refused.value.first_field == "participants"
    assert docs.participants.declared[SCHEDULE] == {"payee"}


async def test_twenty_participants_of_256_characters_are_accepted(docs: Documents) -> None:
    subjects = [f"{n:02}" + "x" * 254 for n in range(20)]
    declared = await docs.service.declare_participants(BACK_END, SCHEDULE, subjects)
    assert declared.subjects == tuple(subjects)


@pytest.mark.parametrize("bad", ["", "not-a-uuid", "../../etc"])
async def test_participants_are_declared_only_for_a_schedule_uuid(
    docs: Documents, bad: str
) -> None:
    with pytest.raises(InvalidInput):
        await docs.service.declare_participants(BACK_END, bad, ["payee"])
    with pytest.raises(InvalidInput):
        await docs.service.declared_participants(BACK_END, bad)
    assert docs.participants.declared == {}
