"""The object store on a local folder: the embedded default, served by the app's own `/_blobs/`.

Each write streams into a file under `<root>/.tmp/` and is renamed into place only once
complete, so a reader sees the whole object or none of it. Keys never start a segment with
`.`, so the temporary folder cannot be addressed through a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from filedock.ports.direct_writes import DirectWriter
from filedock.ports.keys import limited_groups, listing_directory, validate_key
from filedock.ports.local_file_io import (
    ABSENT,
    Absorbed,
    check_range,
    finish_file,
    flush_inline,
    hash_and_write,
    hash_and_write_inline,
    in_thread,
    open_for_reading,
    raise_failures,
    read_from_disk,
    read_if_cached,
    settled,
    sync_directory,
)
from filedock.ports.objectstore import (
    CHUNK_SIZE,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    StoredObject,
    StoreUnavailable,
)
from filedock.ports.presign import (
    PresignedRequest,
    PresignMethod,
    SigningNotConfigured,
    UploadLimits,
)
from filedock.ports.temp_files import TempFiles

if TYPE_CHECKING:
    from filedock.ports.blob_signing import BlobSigner

TEMP_DIR_NAME = ".tmp"
# Batches up to this size are hashed and written on the event loop (tens of microseconds);
# larger ones go to two threads at once. Only a body's last batch is ever this small.
INLINE_BYTES = 64 * 1024
# Reads from the page cache come in chunks of this size. A download's chunks queue in the ASGI
# server until the socket takes them, so larger ones raise the memory a download holds; each
# chunk costs a probe, a turn of the loop and a pass through every middleware's `send`.
# Measured a GiB at a time: 256 KiB 0.53-0.55 s of CPU, 512 KiB 0.51-0.52 s and 2.4 MB more
# at the peak, 1 MiB 17 MB more than 256 KiB.
READ_CHUNK_BYTES = 512 * 1024
# A large object goes to disk through a buffer of this size, around the page cache
# (direct_writes.py); the same size as an upload's batches.
DIRECT_BUFFER_BYTES = CHUNK_SIZE

# A concurrent delete may prune the parent folder between our mkdir and rename; retry a little.
_PUBLISH_ATTEMPTS = 5


class LocalObjectStore:
    """Objects as files under `root`; `fsync=True` makes each write durable before it is seen.

    Signed URLs point at the app's own `/_blobs/` and are signed by `signer`, if given.
    """

    def __init__(
        self,
        root: Path,
        *,
        fsync: bool = False,
        signer: BlobSigner | None = None,
        direct_writes: bool = True,
    ) -> None:
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._root = root.resolve(strict=True)
            self._temp_dir = self._root / TEMP_DIR_NAME
            self._temp_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot use {root} as an object store: {exc}") from exc
        self._root_prefix = str(self._root) + os.sep
        self._fsync = fsync
        self._signer = signer
        self._direct_writes = direct_writes
        self._temp_files = TempFiles(self._temp_dir)

    @property
    def root(self) -> Path:
        return self._root

    def key_in_notification(self, bucket: str, object_name: str) -> str | None:
        return None  # a folder has no bucket to send notifications

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> StoredObject:
        path = self._path_of(key)
        temp_path, file = await self._temp_files.create()
        hasher = hashlib.sha256()
        size = 0
        in_flight: Absorbed | None = None
        # Set at the first large batch, at the file's start: small bodies stay buffered.
        direct: DirectWriter | None = None
        write: Callable[[list[bytes]], None] = file.writelines
        try:
            async with contextlib.aclosing(
                limited_groups(chunks, max_bytes, CHUNK_SIZE)
            ) as batches:
                async for batch in batches:
                    # One batch in flight while the next one is gathered from the source; the
                    # previous batch must be done first so hash and file stay in order.
                    if in_flight is not None:
                        raise_failures(await settled(in_flight))
                        in_flight = None
                    batch_size = sum(map(len, batch))
                    if batch_size <= INLINE_BYTES and direct is None:
                        # A small body, or the tail of a large one written the ordinary way:
                        # two thread hops would cost more than hashing and writing it here.
                        # Not a direct writer's tail: its buffer may fill and write a MiB.
                        hash_and_write_inline(hasher, write, batch)
                    else:
                        if size == 0 and self._direct_writes:
                            direct = DirectWriter.start(file, DIRECT_BUFFER_BYTES)
                            write = file.writelines if direct is None else direct.writelines
                        in_flight = hash_and_write(hasher, write, batch)
                    size += batch_size
            if in_flight is not None:
                raise_failures(await settled(in_flight))
            in_flight = None
            if direct is not None:
                # Up to a buffer's worth: written in a thread, as the batches were.
                finishing, direct = direct, None
                await in_thread(finishing.finish)
            if self._fsync:
                await in_thread(finish_file, file, True)
            else:
                # Only what the file buffers (under 8 KiB: larger writes bypass the buffer)
                # is left to hand to the page cache.
                flush_inline(file)
            file.close()
            # Inline, not in a thread: the rename is the commit point, and a cancel must find
            # it either not begun or done.
            self._publish(temp_path, path)
        except BaseException:
            try:
                if in_flight is not None:
                    # The threads still hold the file; closing it under them could let a write
                    # land in whatever file reuses the descriptor.
                    await settled(in_flight)
            finally:
                # The original error is the one to report; leftovers here are best effort.
                if direct is not None:
                    direct.close()
                with contextlib.suppress(OSError):
                    file.close()
                with contextlib.suppress(OSError):
                    temp_path.unlink()
            raise
        return StoredObject(key=key, size=size, sha256=hasher.hexdigest())

    async def head(self, key: str) -> ObjectInfo:
        path = self._path_of(key)
        info = await in_thread(os.stat, path, missing=key)
        if not stat.S_ISREG(info.st_mode):
            raise ObjectNotFound(key)
        return ObjectInfo(
            key=key,
            size=info.st_size,
            last_modified=datetime.fromtimestamp(info.st_mtime, tz=UTC),
        )

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        check_range(start, end)
        path = self._path_of(key)
        # Opening is quick and must not be cut short by a cancel (the file would leak): inline.
        file = open_for_reading(path, start, key)
        try:
            # A published object never changes (a new upload replaces the file, and this
            # descriptor keeps the old one), so its size bounds the reads: no last empty read.
            fd = file.fileno()
            position = start
            size = os.fstat(fd).st_size
            stop = size if end is None else min(end, size)
            while position < stop:
                # From the page cache: a copy, on the loop. From the disk: in a thread, which
                # leaves the loop free meanwhile, a MiB a hop (the disk, not the socket, sets
                # the pace then, so larger chunks do not queue up in the server).
                data = read_if_cached(fd, position, min(READ_CHUNK_BYTES, stop - position))
                if data is None:
                    want = min(CHUNK_SIZE, stop - position)
                    data = await in_thread(read_from_disk, fd, position, want)
                else:
                    # Neither an inline read nor a send into a free socket gives the loop
                    # back: without this a GiB read from the cache would hold it for half a
                    # second, and a client that hung up would go unnoticed till the end.
                    await asyncio.sleep(0)
                if not data:
                    return
                position += len(data)
                yield data
        finally:
            file.close()

    async def delete(self, key: str) -> None:
        path = self._path_of(key)
        await in_thread(self._delete_and_prune, path)

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        directory = listing_directory(prefix)
        # A directory stack rather than os.walk: each folder is read in one thread hop, and
        # only the folders that can hold matching keys are visited.
        stack = [directory]
        while stack:
            current = stack.pop()
            files, folders = await in_thread(self._scan, current)
            for name in files:
                key = f"{current}/{name}" if current else name
                if key.startswith(prefix):
                    yield key
            for name in reversed(folders):
                sub = f"{current}/{name}" if current else name
                # Only descend where keys can still start with the prefix.
                if sub.startswith(prefix):
                    stack.append(sub)

    def local_path(self, key: str) -> Path | None:
        path = self._path_of(key)
        return path if path.is_file() else None

    async def check(self) -> None:
        await in_thread(self._probe)

    async def close(self) -> None:
        return None

    async def remove_unfinished_writes(self, idle_for: timedelta) -> int:
        # A live write touches its file with each batch (CHUNK_SIZE) it adds; a dead one never.
        idle_since = time.time() - idle_for.total_seconds()
        return await in_thread(self._remove_idle_temp_files, idle_since)

    def presign(
        self,
        method: PresignMethod,
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits | None = None,
        download_name: str | None = None,
    ) -> PresignedRequest:
        # Signing reads no file: the key is checked here, its path when the URL is used.
        return self._blob_signer().presign(
            method, key, expires_in=expires_in, limits=limits, download_name=download_name
        )

    def presign_post(
        self,
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits,
        success_status: str | None = None,
    ) -> PresignedRequest:
        return self._blob_signer().presign_post(
            key, expires_in=expires_in, limits=limits, success_status=success_status
        )

    # Helpers -------------------------------------------------------------------------------

    def _blob_signer(self) -> BlobSigner:
        if self._signer is None:
            raise SigningNotConfigured(
                "this local object store has no BlobSigner: signed URLs need the app's public "
                "base URL and secret"
            )
        return self._signer

    def _path_of(self, key: str) -> Path:
        """The path for `key`, proven to stay inside the root even through symlinks."""
        parts = validate_key(key).split("/")
        path = self._root.joinpath(*parts)
        if self._symlink_below_root(parts) and not os.path.realpath(path).startswith(
            self._root_prefix
        ):
            raise InvalidKey("key resolves outside the store")
        return path

    def _symlink_below_root(self, parts: list[str]) -> bool:
        """Whether anything on the key's way down from the root may be a symlink.

        The root was resolved once (`__init__`), so only entries below it can lead out: one
        `lstat` a level of the key, where resolving the whole path walked every folder from
        `/` down (a fifth of a small upload's handler, measured). Below a missing entry
        nothing exists; anything unexpected is left to the full resolution.
        """
        below = self._root_prefix
        for part in parts:
            below += part
            try:
                mode = os.lstat(below).st_mode
            except FileNotFoundError:
                return False
            except OSError:
                return True
            if stat.S_ISLNK(mode):
                return True
            below += os.sep
        return False

    def _publish(self, temp_path: Path, path: Path) -> None:
        """Rename the finished file into place: the moment the object becomes visible."""
        for attempt in range(_PUBLISH_ATTEMPTS):
            try:
                # The folder usually exists already: it is made only when the rename says
                # it is missing (two system calls fewer a write).
                if attempt:
                    path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp_path, path)
                break
            except FileNotFoundError:
                if attempt == _PUBLISH_ATTEMPTS - 1:
                    raise StoreUnavailable(f"cannot create the folder for {path}") from None
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                # On disk `a` cannot be both an object and the folder of `a/b`.
                raise InvalidKey("key collides with an existing key on this store") from exc
            except OSError as exc:
                raise StoreUnavailable(f"cannot store the object: {exc}") from exc
        if self._fsync:
            with contextlib.suppress(OSError):
                sync_directory(path.parent)

    def _delete_and_prune(self, path: Path) -> None:
        with contextlib.suppress(*ABSENT):
            os.unlink(path)
        # Empty folders left behind would pile up forever; stop at the first one still in use.
        parent = path.parent
        while parent != self._root:
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = parent.parent

    def _scan(self, directory: str) -> tuple[list[str], list[str]]:
        base = self._path_of(directory) if directory else self._root
        files: list[str] = []
        folders: list[str] = []
        try:
            with os.scandir(base) as entries:
                for entry in entries:
                    # Hidden names are the store's own (the temporary folder) and never keys;
                    # symlinks are not followed, so a listing never leaves the root.
                    if entry.name.startswith("."):
                        continue
                    if entry.is_file(follow_symlinks=False):
                        files.append(entry.name)
                    elif entry.is_dir(follow_symlinks=False):
                        folders.append(entry.name)
        except ABSENT:
            return [], []
        return sorted(files), sorted(folders)

    def _remove_idle_temp_files(self, idle_since: float) -> int:
        try:
            with os.scandir(self._temp_dir) as listing:
                entries = list(listing)
        except FileNotFoundError:
            return 0
        removed = 0
        for entry in entries:  # one that fails (say, finished meanwhile) is for a later round
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < idle_since:
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def _probe(self) -> None:
        if not self._root.is_dir():
            raise StoreUnavailable(f"{self._root} is not a folder")
        temp_path, file = self._temp_files.create_now()
        file.close()
        temp_path.unlink()
