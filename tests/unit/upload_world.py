"""An upload world on in-memory ports: uploads, processing and files sharing one clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from filedock.core.files import FileService
from filedock.core.principal import Principal
from filedock.core.processing import FileProcessor
from filedock.core.upload_policy import FORM_COMMAND_POLICY, SIGNED_URL_POLICY, UploadPolicy
from filedock.core.uploads import UploadService
from tests.unit.memory_ports import MemoryRecords, MemoryScanner, MemoryStore

ALICE = Principal("bearer", "alice", "user")
BOB = Principal("bearer", "bob", "user")


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 12, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    records: MemoryRecords
    store: MemoryStore
    scanner: MemoryScanner
    clock: Clock
    uploads: UploadService
    processor: FileProcessor
    files: FileService

    async def signed_upload(self, filename: str, data: bytes, *, persist: bool = True) -> str:
        ticket = await self.uploads.issue_upload_url(ALICE, filename, persist, SIGNED_URL_POLICY)
        self.store.objects[ticket.file.storage_key] = data  # the client's PUT
        await self.uploads.status(ALICE, ticket.file.id)
        return ticket.file.id


def new_world(*changed: UploadPolicy) -> World:
    """A world with the built-in upload policies; `changed` ones replace theirs by name."""
    records, store, scanner, clock = MemoryRecords(), MemoryStore(), MemoryScanner(), Clock()
    policies = {p.name: p for p in (SIGNED_URL_POLICY, FORM_COMMAND_POLICY, *changed)}
    return World(
        records,
        store,
        scanner,
        clock,
        UploadService(records, store, policies, clock=clock),
        FileProcessor(records, store, scanner, policies, clock=clock),
        FileService(records, store, max_upload_bytes=10**9, clock=clock),
    )
