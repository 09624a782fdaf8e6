"""`AsyncClient`: the same methods as `Client`, for asyncio code."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from filedock.client._protocol import (
    RATE_LIMIT_RETRIES,
    Call,
    Credentials,
    Filter,
    PartialDownload,
    UploadSource,
    download_target,
    extract_body,
    fetchable,
    file_path,
    finished,
    poll_delays,
    retry_after,
    seconds_of,
)
from filedock.client.errors import WaitTimeoutError, error_from_response, unreachable
from filedock.client.models import ExtractRequest, FileInfo, FileState, Progress


class AsyncClient:
    """`Client` for asyncio: every method is a coroutine (`list_files` an async iterator).

    Use it as `async with AsyncClient(...) as client:`, or `await client.aclose()`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        user_id: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.credentials = Credentials.resolve(base_url, api_key, user_id, token)
        self._http = httpx.AsyncClient(
            base_url=self.credentials.base_url, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # Files ---------------------------------------------------------------------------------

    async def upload(
        self,
        data: bytes | str | os.PathLike[str],
        filename: str | None = None,
        *,
        persist: bool = True,
        wait: bool = True,
        progress: Progress | None = None,
        wait_timeout: float = 300.0,
    ) -> FileInfo:
        """As `Client.upload`."""
        source = UploadSource(data, filename)
        params = {"filename": source.filename, "persist": str(persist).lower()}
        call = Call("GET", "/v1/files/signed-url", params, headers=self._files())
        ticket = await self._json(call)
        headers = {**ticket.get("upload_headers", {}), "Content-Length": str(source.size)}
        await self._send_raw(
            ticket.get("upload_method", "PUT"),
            ticket["file_url"],
            headers=headers,
            content=source.achunks(progress),
        )
        file_id = str(ticket["file_id"])
        if wait:
            return await self.wait(file_id, timeout=wait_timeout)
        return await self.info(file_id)

    async def wait(self, file_id: str, *, timeout: float = 300.0) -> FileInfo:
        """As `Client.wait`."""
        deadline = time.monotonic() + timeout
        for delay in poll_delays():
            state = await self.status(file_id)
            if state.final:
                return await self.info(file_id)
            if time.monotonic() + delay > deadline:
                raise WaitTimeoutError(f"file {file_id} is still {state.status} after {timeout} s")
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def status(self, file_id: str) -> FileState:
        return FileState.from_json(await self._json(self._file_call(file_id, "/status")))

    async def info(self, file_id: str) -> FileInfo:
        return FileInfo.from_json(await self._json(self._file_call(file_id)))

    async def list_files(self, *, page_size: int = 50) -> AsyncIterator[FileInfo]:
        """As `Client.list_files`."""
        after: str | None = None
        while True:
            params = {"limit": str(page_size), **({"after": after} if after else {})}
            page = await self._json(Call("GET", "/v1/files/", params, headers=self._files()))
            for item in page["files"]:
                yield FileInfo.from_json(item)
            after = page.get("next")
            if not after:
                return

    async def share(self, file_id: str, expires_in: timedelta | int | None = None) -> str:
        """As `Client.share`."""
        return str((await self._download_link(file_id, expires_in))["url"])

    async def download(
        self,
        file_id: str,
        path: str | os.PathLike[str] | None = None,
        *,
        resume: bool = True,
        progress: Progress | None = None,
    ) -> Path:
        """As `Client.download`."""
        info = await self.info(file_id)
        plan = PartialDownload(download_target(path, info), info.size, info.sha256, resume=resume)
        if not plan.complete:
            link = await self._download_link(file_id, None)
            await self._fetch(str(link["url"]), plan, progress)
        return plan.finish()

    async def delete(self, file_id: str) -> None:
        await self._json(self._file_call(file_id, method="DELETE"))

    # Extracts (cosphere downloader) -------------------------------------------------------

    async def extract(
        self,
        item_id: int,
        columns: Sequence[str],
        filters: Sequence[Filter] = (),
        *,
        sample: float = 1.0,
        format: str = "csv",
        wait: bool = True,
        wait_timeout: float = 3600.0,
    ) -> ExtractRequest:
        """As `Client.extract`."""
        body = extract_body(item_id, columns, filters, sample, format)
        call = Call("POST", "/downloader/requests/", json=body, headers=self._downloader())
        request = ExtractRequest.from_json(await self._json(call))
        if wait:
            return await self.wait_extract(request.id, timeout=wait_timeout)
        return request

    async def extract_request(self, request_id: int) -> ExtractRequest:
        call = Call("GET", f"/downloader/requests/{request_id}", headers=self._downloader())
        return ExtractRequest.from_json(await self._json(call))

    async def wait_extract(self, request_id: int, *, timeout: float = 3600.0) -> ExtractRequest:
        deadline = time.monotonic() + timeout
        for delay in poll_delays():
            request = await self.extract_request(request_id)
            if request.final:
                return finished(request)
            if time.monotonic() + delay > deadline:
                raise WaitTimeoutError(
                    f"extract {request_id} is still {request.status} after {timeout} s"
                )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def fetch_extract(
        self,
        request: ExtractRequest | int,
        path: str | os.PathLike[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> Path:
        """As `Client.fetch_extract`."""
        request_id = request if isinstance(request, int) else request.id
        current = fetchable(await self.extract_request(request_id))
        target = Path(path) if path is not None else Path(f"extract-{current.id}.{current.format}")
        plan = PartialDownload(target, current.real_size, None, resume=False)
        await self._fetch(str(current.uri), plan, progress)
        return plan.finish()

    # Sending -------------------------------------------------------------------------------

    def _files(self) -> dict[str, str]:
        return self.credentials.file_headers()

    def _downloader(self) -> dict[str, str]:
        return self.credentials.downloader_headers()

    def _file_call(self, file_id: str, suffix: str = "", *, method: str = "GET") -> Call:
        return Call(method, file_path(file_id, suffix), headers=self._files())

    async def _download_link(
        self, file_id: str, expires_in: timedelta | int | None
    ) -> dict[str, Any]:
        seconds = seconds_of(expires_in)
        params = {} if seconds is None else {"expires_in": str(seconds)}
        call = Call("GET", file_path(file_id, "/download-url"), params, headers=self._files())
        return await self._json(call)

    async def _json(self, call: Call) -> dict[str, Any]:
        response = await self._send_raw(
            call.method, call.path, params=call.params, json=call.json, headers=call.headers
        )
        if response.status_code == 204 or not response.content:
            return {}
        body: dict[str, Any] = response.json()
        return body

    async def _send_raw(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """As `Client._send_raw`."""
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                raise unreachable(self._http.base_url.join(url), exc) from None
            if response.status_code != 429 or attempt == RATE_LIMIT_RETRIES:
                break
            if "content" in kwargs:
                break
            await asyncio.sleep(retry_after(response.headers.get("retry-after")))
        if response.is_error:
            raise error_from_response(response)
        return response

    async def _fetch(self, url: str, plan: PartialDownload, progress: Progress | None) -> None:
        try:
            async with self._http.stream("GET", url, headers=plan.headers()) as response:
                if response.is_error:
                    await response.aread()
                    raise error_from_response(response)
                range_ = response.headers.get("content-range")
                with plan.begin(response.status_code, range_) as sink:
                    async for chunk in response.aiter_bytes():
                        plan.write(sink, chunk)
                        if progress is not None:
                            progress(plan.done, plan.size)
        except httpx.TransportError as exc:
            raise unreachable(url, exc) from None
