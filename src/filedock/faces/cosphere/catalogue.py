"""The cosphere catalogue (seed 003, "Catalogue Items Management"): `/catalogue/items/`.

Everyone signed in may search and read; admins create, update, delete and profile. Bodies
carry `@event` and `@type`; an item renders with its accounts nested as the seed shows them,
plus its `id` (and `location`), which clients need to address it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from filedock.core.catalogue import CatalogueEntry, ItemInUse
from filedock.faces.context import CoreServices
from filedock.faces.cosphere import openapi as doc
from filedock.faces.cosphere.auth import CosphereAccount, CosphereAdmin
from filedock.faces.cosphere.envelope import (
    caller_id,
    json_body,
    render,
    render_account,
)
from filedock.faces.cosphere.envelope import render_error as render_envelope_error
from filedock.faces.errors import Failure, face_router
from filedock.faces.openapi import documented_as


def render_error(request: Request, failure: Failure) -> Response:
    error = failure.error
    if isinstance(error, ItemInUse):
        return render(
            "NOT_CANCELLED_DOWNLOAD_REQEUSTS_DETECTED",  # the seed's spelling
            "error",
            400,
            item_id=error.item_id,
            not_cancelled_count=error.live_requests,
            user_id=caller_id(request),
        )
    return render_envelope_error(request, failure)


router = face_router(
    render_error,
    prefix="/catalogue/items",
    tags=["cosphere: catalogue"],
    **documented_as("cosphere"),
)


@router.get(
    "/",
    summary="Search catalogue items by name",
    operation_id="cosphere_search_catalogue_items",
    responses=doc.SEARCH_ITEMS,
    openapi_extra={**doc.ACCOUNT, "parameters": [doc.SEARCH_QUERY]},
)
async def bulk_read(request: Request, account: CosphereAccount, core: CoreServices) -> Response:
    entries = await core.catalogue.search(request.query_params.get("query"))
    items = [render_item(entry) for entry in entries]
    return render("CATALOGUEITEMS_BULK_READ", "catalogue_items_list", items=items)


@router.post(
    "/",
    status_code=201,
    summary="Create a catalogue item (admins)",
    operation_id="cosphere_create_catalogue_item",
    responses=doc.CREATE_ITEM,
    openapi_extra=doc.body(doc.CatalogueItemBody),
)
async def create_item(request: Request, admin: CosphereAdmin, core: CoreServices) -> Response:
    entry = await core.catalogue.create(admin.principal, await json_body(request))
    return render("CATALOGUEITEM_CREATED", "catalogue_item", 201, **render_item(entry))


@router.get(
    "/{item_id}",
    summary="Read a catalogue item",
    operation_id="cosphere_read_catalogue_item",
    responses=doc.READ_ITEM,
    openapi_extra=doc.ACCOUNT,
)
async def read_item(item_id: int, account: CosphereAccount, core: CoreServices) -> Response:
    entry = await core.catalogue.read(item_id)
    return render("CATALOGUEITEM_READ", "catalogue_item", **render_item(entry))


@router.put(
    "/{item_id}",
    summary="Update a catalogue item (admins)",
    operation_id="cosphere_update_catalogue_item",
    responses=doc.UPDATE_ITEM,
    openapi_extra=doc.body(doc.CatalogueItemBody),
)
async def update_item(
    item_id: int, request: Request, admin: CosphereAdmin, core: CoreServices
) -> Response:
    entry = await core.catalogue.update(admin.principal, item_id, await json_body(request))
    return render("CATALOGUEITEM_UPDATED", "catalogue_item", **render_item(entry))


@router.delete(
    "/{item_id}",
    summary="Delete a catalogue item (admins)",
    operation_id="cosphere_delete_catalogue_item",
    responses=doc.DELETE_ITEM,
    openapi_extra=doc.ACCOUNT,
)
async def delete_item(item_id: int, admin: CosphereAdmin, core: CoreServices) -> Response:
    await core.catalogue.delete(admin.principal, item_id)
    return render("CATALOGUEITEM_DELETED", "empty")


@router.post(
    "/{item_id}/profile/",
    summary="Fill spec and sample from the data (admins)",
    operation_id="cosphere_profile_catalogue_item",
    responses=doc.PROFILE_ITEM,
    openapi_extra=doc.ACCOUNT,
)
async def profile_item(item_id: int, admin: CosphereAdmin, core: CoreServices) -> Response:
    entry = await core.catalogue.profile(admin.principal, item_id)
    return render("CATALOGUEITEM_PROFILED", "catalogue_item", **render_item(entry))


def render_item(entry: CatalogueEntry) -> dict[str, Any]:
    item = entry.item

    def account(value: Any) -> dict[str, Any] | None:
        return None if value is None else render_account(value)

    return {
        "@type": "catalogue_item",
        "id": item.id,
        "created_by": account(entry.created_by),
        "executor_type": item.executor_type.value,
        "key_columns": list(item.key_columns),
        "location": item.location,
        "maintained_by": account(entry.maintained_by),
        "name": item.name,
        "sample": item.sample,
        "spec": item.spec,
        "updated_by": account(entry.updated_by),
    }
