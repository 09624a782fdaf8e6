"""A Python client for filedock: files through the signed-url API, extracts through the
cosphere downloader; `Client` (blocking) and `AsyncClient` (asyncio) have the same methods.

    from filedock.client import Client

    with Client("http://127.0.0.1:8000", api_key=KEY, user_id=USER) as client:
        info = client.upload("report.pdf")           # streamed, then waits for processing
        client.download(info.file_id, "copy.pdf")    # resumes a partial copy.pdf.part
"""

from filedock.client._protocol import Filter
from filedock.client.aio import AsyncClient
from filedock.client.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ExtractFailedError,
    FiledockError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnreachableError,
    WaitTimeoutError,
)
from filedock.client.models import ExtractRequest, FileInfo, FileState, Progress
from filedock.client.sync import Client

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "ExtractFailedError",
    "ExtractRequest",
    "FileInfo",
    "FileState",
    "FiledockError",
    "Filter",
    "IntegrityError",
    "NotFoundError",
    "PermissionDeniedError",
    "Progress",
    "RateLimitError",
    "ServerError",
    "UnreachableError",
    "WaitTimeoutError",
]
