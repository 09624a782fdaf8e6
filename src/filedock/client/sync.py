"""`Client`: filedock's files (the signed-url face) and extracts (the cosphere downloader)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
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
from filedock.client.errors import (
    WaitTimeoutError,
    error_from_response,
    unreachable,
)
from filedock.client.models import ExtractRequest, FileInfo, FileState, Progress


class Client:
    """A filedock server, called as one end user of a back-end (files) and, for extracts, as
    a cosphere account (`token`). Every argument left out is read from the environment:
    `FILEDOCK_URL`, `FILEDOCK_API_KEY`, `FILEDOCK_USER_ID`, `FILEDOCK_TOKEN`.

    Failures raise `FiledockError` subclasses (`filedock.client.errors`).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        user_id: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.credentials = Credentials.resolve(base_url, api_key, user_id, token)
        self._http = httpx.Client(
            base_url=self.credentials.base_url, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Files ---------------------------------------------------------------------------------

    def upload(
        self,
        data: bytes | str | os.PathLike[str],
        filename: str | None = None,
        *,
        persist: bool = True,
        wait: bool = True,
        progress: Progress | None = None,
        wait_timeout: float = 300.0,
    ) -> FileInfo:
        """Upload a file (a path, streamed) or bytes (name them with `filename`), then, with
        `wait`, wait until processing decides; the file as it then is (check `.ready`)."""
        source = UploadSource(data, filename)
        params = {"filename": source.filename, "persist": str(persist).lower()}
        ticket = self._json(Call("GET", "/v1/files/signed-url", params, headers=self._files()))
        headers = {**ticket.get("upload_headers", {}), "Content-Length": str(source.size)}
        self._send_raw(
            ticket.get("upload_method", "PUT"),
            ticket["file_url"],
            headers=headers,
            content=source.chunks(progress),
        )
        file_id = str(ticket["file_id"])
        return self.wait(file_id, timeout=wait_timeout) if wait else self.info(file_id)

    def wait(self, file_id: str, *, timeout: float = 300.0) -> FileInfo:
        """Poll the file's status until processing decides; raise `WaitTimeoutError` after
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for delay in poll_delays():
            state = self.status(file_id)
            if state.final:
                return self.info(file_id)
            if time.monotonic() + delay > deadline:
                raise WaitTimeoutError(f"file {file_id} is still {state.status} after {timeout} s")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def status(self, file_id: str) -> FileState:
        return FileState.from_json(self._json(self._file_call(file_id, "/status")))

    def info(self, file_id: str) -> FileInfo:
        return FileInfo.from_json(self._json(self._file_call(file_id)))

    def list_files(self, *, page_size: int = 50) -> Iterator[FileInfo]:
        """Every file of this user (by id), fetched a page at a time; deleted ones never."""
        after: str | None = None
        while True:
            params = {"limit": str(page_size), **({"after": after} if after else {})}
            page = self._json(Call("GET", "/v1/files/", params, headers=self._files()))
            yield from (FileInfo.from_json(item) for item in page["files"])
            after = page.get("next")
            if not after:
                return

    def share(self, file_id: str, expires_in: timedelta | int | None = None) -> str:
        """A signed link anyone can download the file with, for `expires_in` (1 s to 7 days;
        the server's 5 minutes by default)."""
        return str(self._download_link(file_id, expires_in)["url"])

    def download(
        self,
        file_id: str,
        path: str | os.PathLike[str] | None = None,
        *,
        resume: bool = True,
        progress: Progress | None = None,
    ) -> Path:
        """Save the file at `path` (a folder: under its name; None: its name, here).

        Bytes go to `<path>.part` first; with `resume`, a part left by an earlier attempt is
        continued with a `Range` request. Size and sha256 are checked before the rename.
        """
        info = self.info(file_id)
        plan = PartialDownload(download_target(path, info), info.size, info.sha256, resume=resume)
        if not plan.complete:
            self._fetch(str(self._download_link(file_id, None)["url"]), plan, progress)
        return plan.finish()

    def delete(self, file_id: str) -> None:
        self._json(self._file_call(file_id, method="DELETE"))

    # Extracts (cosphere downloader) -------------------------------------------------------

    def extract(
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
        """Ask for an extract of a catalogue item (or join the same live one); with `wait`,
        return once it is `done`, raising `ExtractFailedError` if it failed."""
        body = extract_body(item_id, columns, filters, sample, format)
        call = Call("POST", "/downloader/requests/", json=body, headers=self._downloader())
        request = ExtractRequest.from_json(self._json(call))
        return self.wait_extract(request.id, timeout=wait_timeout) if wait else request

    def extract_request(self, request_id: int) -> ExtractRequest:
        call = Call("GET", f"/downloader/requests/{request_id}", headers=self._downloader())
        return ExtractRequest.from_json(self._json(call))

    def wait_extract(self, request_id: int, *, timeout: float = 3600.0) -> ExtractRequest:
        deadline = time.monotonic() + timeout
        for delay in poll_delays():
            request = self.extract_request(request_id)
            if request.final:
                return finished(request)
            if time.monotonic() + delay > deadline:
                raise WaitTimeoutError(
                    f"extract {request_id} is still {request.status} after {timeout} s"
                )
            time.sleep(delay)
        raise AssertionError("unreachable")

    def fetch_extract(
        self,
        request: ExtractRequest | int,
        path: str | os.PathLike[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> Path:
        """Download a done extract to `path` (default `extract-<id>.<format>` here); its
        link is read afresh, since each lives only minutes."""
        request_id = request if isinstance(request, int) else request.id
        current = fetchable(self.extract_request(request_id))
        target = Path(path) if path is not None else Path(f"extract-{current.id}.{current.format}")
        plan = PartialDownload(target, current.real_size, None, resume=False)
        self._fetch(str(current.uri), plan, progress)
        return plan.finish()

    # Sending -------------------------------------------------------------------------------

    def _files(self) -> dict[str, str]:
        return self.credentials.file_headers()

    def _downloader(self) -> dict[str, str]:
        return self.credentials.downloader_headers()

    def _file_call(self, file_id: str, suffix: str = "", *, method: str = "GET") -> Call:
        return Call(method, file_path(file_id, suffix), headers=self._files())

    def _download_link(self, file_id: str, expires_in: timedelta | int | None) -> dict[str, Any]:
        seconds = seconds_of(expires_in)
        params = {} if seconds is None else {"expires_in": str(seconds)}
        call = Call("GET", file_path(file_id, "/download-url"), params, headers=self._files())
        return self._json(call)

    def _json(self, call: Call) -> dict[str, Any]:
        response = self._send_raw(
            call.method, call.path, params=call.params, json=call.json, headers=call.headers
        )
        if response.status_code == 204 or not response.content:
            return {}
        body: dict[str, Any] = response.json()
        return body

    def _send_raw(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send; retry a 429 after its Retry-After; raise the error of any other failure."""
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                raise unreachable(self._http.base_url.join(url), exc) from None
            if response.status_code != 429 or attempt == RATE_LIMIT_RETRIES:
                break
            if "content" in kwargs:  # a streamed body cannot be sent twice
                break
            time.sleep(retry_after(response.headers.get("retry-after")))
        if response.is_error:
            raise error_from_response(response)
        return response

    def _fetch(self, url: str, plan: PartialDownload, progress: Progress | None) -> None:
        try:
            with self._http.stream("GET", url, headers=plan.headers()) as response:
                if response.is_error:
                    response.read()
                    raise error_from_response(response)
                range_ = response.headers.get("content-range")
                with plan.begin(response.status_code, range_) as sink:
                    for chunk in response.iter_bytes():
                        plan.write(sink, chunk)
                        if progress is not None:
                            progress(plan.done, plan.size)
        except httpx.TransportError as exc:
            raise unreachable(url, exc) from None
