"""The object store on any S3-compatible service (AWS S3, MinIO, Ceph), through obstore.

Writes stream through obstore's buffered writer: up to one part is buffered, a body smaller
than that goes out as one PUT, a larger one as a multipart upload that is completed at the end
or aborted on any failure, so neither a partial object nor orphan parts remain.

Signed requests are S3's own, made by botocore (obstore's signer can neither sign a
Content-Type header nor a DELETE, nor write POST policies, so one signer does all of them):
SigV4 query signing for GET, PUT and DELETE, and POST policies for browser form uploads. Its
client also aborts the multipart uploads a killed writer left open (obstore cannot list them).

Every wait on the service is bounded by the store's `timeout`, retries included: a request, the
next chunk of a download (not the whole download), the next part of an upload to be taken. A
service that hangs is then `StoreUnavailable` (503) in that time, like one that is down.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import json
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import botocore.session  # type: ignore[import-untyped]
import obstore
from botocore.config import Config as BotocoreConfig  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from obstore.exceptions import BaseError as ObstoreError
from obstore.store import S3Store

from filedock.ports.keys import limited_batches, listing_directory, validate_key
from filedock.ports.objectstore import (
    CHUNK_SIZE,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    StoredObject,
    StoreUnavailable,
)
from filedock.ports.objectstore_s3_bucket import abort_uploads_idle_since, apply_cors_rule
from filedock.ports.presign import (
    PresignedRequest,
    PresignMethod,
    UploadLimits,
    attachment_disposition,
    check_expiry,
    check_limits,
    check_presign_arguments,
    check_success_status,
)

if TYPE_CHECKING:
    from obstore import AsyncWritableFile, GetOptions
    from obstore.store import ClientConfig, RetryConfig, S3Config

_T = TypeVar("_T")

# S3's minimum part size: the writer buffers this much before it starts a multipart upload,
# and it is also the part size, so memory per upload is bounded by parts in flight.
_PART_SIZE = 5 * 1024 * 1024
_PARTS_IN_FLIGHT = 4
# Never a valid key (segments may not start with "."), so listing it finds nothing, cheaply.
_CHECK_PREFIX = ".filedock-check/"

_CLIENT_OPTIONS: ClientConfig = {
    "connect_timeout": timedelta(seconds=5),
    # The overall timeout covers the whole body; a download to a slow phone can take hours,
    # and obstore's 30 s default would cut it off. Dead and hung peers are caught by the
    # connect and read timeouts, and by the store timeout on each wait.
    "timeout": timedelta(hours=6),
}
DEFAULT_TIMEOUT = timedelta(seconds=10)
# obstore retries for up to 3 minutes by default; a caller (and `check`) should learn sooner
# that the endpoint is down.
_RETRY: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=20)}

# What obstore raises: its own hierarchy, plus builtins (FileNotFoundError for a missing
# object, other OSErrors from I/O, ValueError for a malformed request).
_STORE_ERRORS = (ObstoreError, OSError, ValueError)

# The client operation behind each presigned method.
_PRESIGNED_OPERATIONS = {"GET": "get_object", "PUT": "put_object", "DELETE": "delete_object"}


class S3ObjectStore:
    """Objects under `prefix/` in `bucket`; credentials fall back to the environment if None."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None,
        region: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
        session_token: str | None = None,
        allow_http: bool = False,
        timeout: timedelta = DEFAULT_TIMEOUT,
    ) -> None:
        """`allow_http` permits plain http to a non-loopback endpoint (loopback always may);
        `timeout` bounds each wait on the service (see the module's docstring)."""
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if timeout <= timedelta(0):
            raise ValueError("the store timeout must be positive")
        self._wait = timeout.total_seconds()
        self._aborts: set[asyncio.Task[Any]] = set()
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        config: S3Config = {}
        if endpoint_url is not None:
            config["endpoint"] = endpoint_url
        if region is not None:
            config["region"] = region
        if access_key_id is not None and secret_access_key is not None:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
        if session_token is not None:
            config["session_token"] = session_token
        client_options: ClientConfig = _CLIENT_OPTIONS.copy()
        # Also in the client, so a request we stopped waiting for stops in there too.
        client_options["connect_timeout"] = min(timeout, timedelta(seconds=5))
        client_options["read_timeout"] = timeout
        if endpoint_url is not None and urlsplit(endpoint_url).scheme == "http":
            if not (allow_http or _is_loopback(endpoint_url)):
                raise ValueError(f"refusing plain http to {endpoint_url}: use https")
            client_options["allow_http"] = True
        try:
            self._store = S3Store(
                bucket,
                prefix=prefix or None,
                config=config,
                client_options=client_options,
                retry_config=_RETRY,
            )
        except _STORE_ERRORS as exc:
            raise ValueError(f"invalid S3 settings: {exc}") from exc
        self.bucket = bucket
        self.prefix = prefix
        self._signing_settings: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "aws_session_token": session_token,
        }
        self._signing_client: Any = None
        self._signing_lock = threading.Lock()

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> StoredObject:
        validate_key(key)
        hasher = hashlib.sha256()
        size = 0
        loop = asyncio.get_running_loop()
        try:
            # Nothing is sent yet: the writer starts a multipart upload only once a part is full.
            writer = obstore.open_writer_async(
                self._store, key, buffer_size=_PART_SIZE, max_concurrency=_PARTS_IN_FLIGHT
            )
        except _STORE_ERRORS as exc:
            raise StoreUnavailable(_describe(exc)) from exc
        try:
            async with contextlib.aclosing(
                limited_batches(chunks, max_bytes, CHUNK_SIZE)
            ) as batches:
                async for batch in batches:
                    # Hash in a thread while obstore takes the bytes: neither waits for the other.
                    await asyncio.gather(
                        loop.run_in_executor(None, hasher.update, batch),
                        # Waits only while all parts in flight are still going out.
                        _translated(writer.write(batch), self._wait),
                    )
                    size += len(batch)
            await _translated(writer.close(), self._wait)
        except BaseException as exc:
            await self._abort(writer, exc)
            raise
        return StoredObject(key=key, size=size, sha256=hasher.hexdigest())

    async def head(self, key: str) -> ObjectInfo:
        meta = await _translated(
            obstore.head_async(self._store, validate_key(key)), self._wait, key
        )
        return ObjectInfo(key=key, size=meta["size"], last_modified=meta["last_modified"])

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"invalid byte range {start}..{end}")
        validate_key(key)
        if end is not None and end == start:
            # S3 has no empty range; still say whether the object exists.
            await self.head(key)
            return
        options: GetOptions = {}
        if end is not None:
            options["range"] = (start, end)
        elif start:
            options["range"] = {"offset": start}
        try:
            result = await _within(self._wait, obstore.get_async(self._store, key, options=options))
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        except _STORE_ERRORS as exc:
            # S3 refuses a range that starts at or past the end (416); to our callers that is an
            # empty read, as for a file. Asking `head` tells that apart from a real failure.
            if start >= (await self.head(key)).size:
                return
            raise StoreUnavailable(_describe(exc)) from exc
        stream = result.stream(min_chunk_size=CHUNK_SIZE)
        while True:
            try:
                # Each chunk in its own time: a long download of a live store is never cut.
                chunk = await _within(self._wait, anext(stream, None))
            except _STORE_ERRORS as exc:
                raise StoreUnavailable(_describe(exc)) from exc
            if chunk is None:
                return
            yield bytes(chunk)

    async def delete(self, key: str) -> None:
        # S3 answers a DELETE of a missing key with success, so this is idempotent as is.
        await _translated(obstore.delete_async(self._store, validate_key(key)), self._wait)

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        # obstore matches prefixes by whole segments; our prefixes are plain string prefixes,
        # so list the enclosing folder and filter.
        directory = listing_directory(prefix)
        pages = obstore.list(self._store, directory or None, chunk_size=1000)
        while True:
            try:
                page = await _within(self._wait, anext(pages, None))
            except _STORE_ERRORS as exc:
                raise StoreUnavailable(_describe(exc)) from exc
            if page is None:
                return
            for meta in page:
                if meta["path"].startswith(prefix):
                    yield meta["path"]

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    async def check(self) -> None:
        # A one-request listing that also fails when the bucket is missing or not ours,
        # unlike a HEAD on a missing key which answers 404 either way.
        await _translated(obstore.list_with_delimiter_async(self._store, _CHECK_PREFIX), self._wait)

    async def remove_unfinished_writes(self, idle_for: timedelta) -> int:
        # S3 keeps (and bills) the parts of an upload until it is completed or aborted.
        idle_since = datetime.now(UTC) - idle_for
        prefix = f"{self.prefix}/" if self.prefix else ""
        return await asyncio.to_thread(
            abort_uploads_idle_since, self._signer_client(), self.bucket, prefix, idle_since
        )

    async def close(self) -> None:
        # obstore's client pools its connections internally and has nothing to release; only
        # aborts of failed writes may still be under way.
        if self._aborts:
            await asyncio.wait(self._aborts, timeout=self._wait)

    def presign(
        self,
        method: PresignMethod,
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits | None = None,
        download_name: str | None = None,
    ) -> PresignedRequest:
        check_presign_arguments(method, limits=limits, download_name=download_name)
        check_expiry(expires_in)
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._bucket_key(key)}
        headers: dict[str, str] = {}
        if limits is not None and limits.content_type is not None:
            # Sent as a header, so it is signed: S3 refuses the PUT with any other type. S3
            # cannot bind a PUT's size; the processing job checks it once the bytes are in.
            params["ContentType"] = limits.content_type
            headers["Content-Type"] = limits.content_type
        if download_name is not None:
            params["ResponseContentDisposition"] = attachment_disposition(download_name)
        # SigV4 dates have whole seconds; the URL lives at least until this moment.
        expires_at = _now() + timedelta(seconds=int(expires_in.total_seconds()))
        url = self._signed(
            lambda client: client.generate_presigned_url(
                _PRESIGNED_OPERATIONS[method],
                Params=params,
                ExpiresIn=int(expires_in.total_seconds()),
                HttpMethod=method,
            )
        )
        return PresignedRequest(method, str(url), {}, headers, expires_at)

    def presign_post(
        self,
        key: str,
        *,
        expires_in: timedelta,
        limits: UploadLimits,
        success_status: str | None = None,
    ) -> PresignedRequest:
        check_expiry(expires_in)
        check_limits(limits)
        check_success_status(success_status)
        bucket_key = self._bucket_key(key)
        if "${filename}" in bucket_key:
            # S3 would put the client's file name there, and botocore would relax the key
            # condition to a prefix: the client would choose the key.
            raise InvalidKey("a key for a form upload must not contain ${filename}")
        fields: dict[str, str] = {}
        # botocore itself adds {"bucket": …} and {"key": …} (exact, for a key like ours) and
        # the x-amz-* signing conditions; `_check_policy` proves the result.
        conditions: list[Any] = [["content-length-range", 0, limits.max_bytes]]
        if success_status is not None:
            # Without it S3 answers 204, as seed 000's form expects; "201" adds its XML.
            fields["success_action_status"] = success_status
            conditions.append({"success_action_status": success_status})
        if limits.content_type is not None:
            fields["Content-Type"] = limits.content_type
            conditions.append({"Content-Type": limits.content_type})
        expires_at = _now() + timedelta(seconds=int(expires_in.total_seconds()))
        post = self._signed(
            lambda client: client.generate_presigned_post(
                self.bucket,
                bucket_key,
                Fields=fields,
                Conditions=conditions,
                ExpiresIn=int(expires_in.total_seconds()),
            )
        )
        form = {str(name): str(value) for name, value in post["fields"].items()}
        _check_policy(form["policy"], [*conditions, {"bucket": self.bucket}, {"key": bucket_key}])
        return PresignedRequest("POST", str(post["url"]), form, {}, expires_at)

    def key_in_notification(self, bucket: str, object_name: str) -> str | None:
        if bucket != self.bucket:
            return None
        key = object_name.removeprefix(f"{self.prefix}/") if self.prefix else object_name
        return None if key == object_name and self.prefix else key

    def allow_browsers(self, origins: Sequence[str]) -> tuple[dict[str, Any], int]:
        """Let browsers on `origins` use signed URLs of the bucket: its CORS rule `filedock`
        (see objectstore_s3_bucket.py); the rule applied and how many others were kept."""
        return apply_cors_rule(self._signer_client(), self.bucket, origins)

    # Helpers --------------------------------------------------------------------------------

    async def _abort(self, writer: AsyncWritableFile, exc: BaseException) -> None:
        """Abort the upload behind `writer`: no object appears, started parts are discarded."""
        # A task, so that a second cancel cannot cut the abort short and strand the parts.
        abort = asyncio.ensure_future(writer.__aexit__(type(exc), exc, exc.__traceback__))
        self._aborts.add(abort)
        abort.add_done_callback(_forget_abort(self._aborts))
        if isinstance(exc, _NoAnswer):
            # A store that did not answer would not answer the abort either: the caller
            # hears of the outage now; the abort goes on (obstore's read timeout ends it),
            # and the reconciler removes the parts if it fails.
            return
        with contextlib.suppress(Exception):
            # Best effort: the original error matters more, and a writer whose close failed
            # has already been consumed by obstore, which then refuses a second close.
            await asyncio.wait_for(asyncio.shield(abort), self._wait)

    def _bucket_key(self, key: str) -> str:
        """The object's name in the bucket, as obstore's prefix store names it."""
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _signed(self, sign: Callable[[Any], Any]) -> Any:
        """Run `sign(client)` on the signing client, turning botocore's errors into ours."""
        try:
            return sign(self._signer_client())
        except (BotoCoreError, ClientError) as exc:
            # E.g. no credentials found: nothing can be signed until configuration changes.
            raise StoreUnavailable(f"cannot sign the request: {exc}") from exc

    def _signer_client(self) -> Any:
        """botocore's S3 client, built on first use (it costs tens of milliseconds), once."""
        with self._signing_lock:
            if self._signing_client is None:
                settings = self._signing_settings
                # A custom endpoint (MinIO, Ceph, moto) serves buckets as paths, as obstore
                # addresses them; on AWS botocore picks the bucket's own host name.
                addressing = "path" if settings["endpoint_url"] else "auto"
                # Its only calls are the clean-up's: give up about as soon as obstore does.
                config = BotocoreConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": addressing},
                    connect_timeout=min(self._wait, 5),
                    read_timeout=self._wait,
                    # One attempt, so each call answers within the store timeout; what calls
                    # it (the clean-up rounds, an operator's command) tries again later.
                    retries={"total_max_attempts": 1, "mode": "standard"},
                )
                try:
                    session = botocore.session.get_session()
                    # Without credentials botocore fails deep inside POST signing with an
                    # AttributeError; find out here, and try again on the next call.
                    if settings["aws_access_key_id"] is None and session.get_credentials() is None:
                        raise StoreUnavailable("cannot sign: no AWS credentials were found")
                    self._signing_client = session.create_client("s3", config=config, **settings)
                except (BotoCoreError, ClientError, ValueError) as exc:
                    raise StoreUnavailable(f"cannot build the S3 signer: {exc}") from exc
            return self._signing_client


async def _translated(call: Awaitable[_T], wait: float, key: str | None = None) -> _T:
    """Await an obstore call for at most `wait` seconds, turning its errors into the port's.

    With `key` set, a missing object is `ObjectNotFound`; otherwise it is a store failure.
    """
    try:
        return await _within(wait, call)
    except FileNotFoundError as exc:
        if key is not None:
            raise ObjectNotFound(key) from None
        raise StoreUnavailable(_describe(exc)) from exc
    except _STORE_ERRORS as exc:
        raise StoreUnavailable(_describe(exc)) from exc


def _forget_abort(aborts: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def forget(abort: asyncio.Task[Any]) -> None:
        aborts.discard(abort)
        # Read, so that asyncio does not log a failed abort as never retrieved: failing is
        # allowed (see `_abort`).
        if not abort.cancelled():
            abort.exception()

    return forget


class _NoAnswer(StoreUnavailable):
    """The service did not answer in time: hung, or too slow to count as up."""


async def _within(wait: float, call: Awaitable[_T]) -> _T:
    """`call`'s result, or `_NoAnswer` once `wait` seconds have passed (the call is cancelled)."""
    try:
        async with asyncio.timeout(wait):
            return await call
    except TimeoutError:
        raise _NoAnswer(f"the object store did not answer within {wait:g} s") from None


def _check_policy(encoded: str, expected: list[Any]) -> None:
    """Refuse to hand out a POST policy that lacks any condition we meant it to carry."""
    conditions = json.loads(base64.b64decode(encoded))["conditions"]
    missing = any(condition not in conditions for condition in expected)
    loose = any(isinstance(c, list) and c and c[0] == "starts-with" for c in conditions)
    if missing or loose:
        raise StoreUnavailable("botocore produced a POST policy without the intended conditions")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(exc: BaseException) -> str:
    # obstore messages carry a multi-line debug dump (with response bodies); the first line
    # says what failed and where, which is what a log needs.
    lines = str(exc).splitlines()
    return f"object store request failed: {lines[0] if lines else repr(exc)}"
