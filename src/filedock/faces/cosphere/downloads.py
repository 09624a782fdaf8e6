"""The cosphere downloader (seed 003, "Download Requests Management"): `/downloader/requests/`.

Every signed-in account may ask for extracts of catalogue items and sees only the requests it
waits for. A request renders as the seed shows it, with its item and creator nested, plus
`id`, `status` and `failure`, which a client needs to follow it; `uri` is a fresh short-lived
signed link once the request is done.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from filedock.core.downloads import DownloadView
from filedock.faces.context import CoreServices
from filedock.faces.cosphere import openapi as doc
from filedock.faces.cosphere.auth import CosphereAccount
from filedock.faces.cosphere.catalogue import render_item
from filedock.faces.cosphere.envelope import json_body, render, render_account, render_error
from filedock.faces.errors import face_router
from filedock.faces.openapi import documented_as

router = face_router(
    render_error,
    prefix="/downloader/requests",
    tags=["cosphere: downloader"],
    **documented_as("cosphere"),
)


@router.get(
    "/",
    summary="The download requests you wait for",
    operation_id="cosphere_list_download_requests",
    responses=doc.LIST_REQUESTS,
    openapi_extra=doc.ACCOUNT,
)
async def bulk_read(account: CosphereAccount, core: CoreServices) -> Response:
    views = await core.downloads.waiting_for(account)
    requests = [render_request(view) for view in views]
    return render("DOWNLOADREQUESTS_BULK_READ", "download_requests_list", requests=requests)


@router.post(
    "/",
    status_code=201,
    summary="Ask for an extract, or join the same live request",
    operation_id="cosphere_create_download_request",
    responses=doc.CREATE_REQUEST,
    openapi_extra=doc.body(doc.DownloadRequestBody),
)
async def create_request(
    request: Request, account: CosphereAccount, core: CoreServices
) -> Response:
    view = await core.downloads.create(account, await json_body(request))
    return render("DOWNLOADREQUEST_CREATED", "download_request", 201, **render_request(view))


@router.post(
    "/estimate/",
    summary="Estimate the size of an extract in bytes",
    operation_id="cosphere_estimate_download_request",
    responses=doc.ESTIMATE,
    openapi_extra=doc.body(doc.DownloadRequestBody),
)
async def estimate(request: Request, account: CosphereAccount, core: CoreServices) -> Response:
    size = await core.downloads.estimate(account, await json_body(request))
    return render(
        "SIZE_OF_DOWNLOAD_REQUEST_ESTIMATED",
        "download_request_estimated_size",
        estimated_size=size,
    )


@router.post(
    "/render_ui_data/",
    summary="The filter operators each column allows",
    operation_id="cosphere_render_ui_data",
    responses=doc.RENDER_UI_DATA,
    openapi_extra=doc.body(doc.UiDataBody),
)
async def render_ui_data(
    request: Request, account: CosphereAccount, core: CoreServices
) -> Response:
    columns = await core.downloads.render_ui_data(account, await json_body(request))
    operators = [
        {"@type": "column_operators", "name": c.name, "operators": list(c.operators)}
        for c in columns
    ]
    return render(
        "DOWNLOAD_REQUEST_UI_DATA_RENDERED",
        "download_request_render",
        columns_operators=operators,
    )


@router.get(
    "/{request_id}",
    summary="Read a download request you wait for",
    operation_id="cosphere_read_download_request",
    responses=doc.READ_REQUEST,
    openapi_extra=doc.ACCOUNT,
)
async def read_request(request_id: int, account: CosphereAccount, core: CoreServices) -> Response:
    view = await core.downloads.read(account, request_id)
    return render("DOWNLOADREQUEST_READ", "download_request", **render_request(view))


@router.delete(
    "/{request_id}",
    summary="Stop waiting; the last waiter cancels the request",
    operation_id="cosphere_delete_download_request",
    responses=doc.DELETE_REQUEST,
    openapi_extra=doc.ACCOUNT,
)
async def delete_request(request_id: int, account: CosphereAccount, core: CoreServices) -> Response:
    await core.downloads.leave(account, request_id)
    return render("DOWNLOADREQUEST_DELETED", "empty")


def render_request(view: DownloadView) -> dict[str, Any]:
    request = view.request
    return {
        "@type": "download_request",
        "id": request.id,
        "catalogue_item": render_item(view.item),
        "created_by": None if view.created_by is None else render_account(view.created_by),
        "estimated_size": request.estimated_size,
        "executor_job_id": request.executor_job_id,
        "failure": request.failure,
        "is_cancelled": request.status.value == "cancelled",
        "real_size": request.real_size,
        "spec": request.spec,
        "status": request.status.value,
        "uri": view.uri,
    }
