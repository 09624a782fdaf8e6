"""What the cosphere face (seed 003: `/accounts/`, `/catalogue/items/`, `/downloader/requests/`)
answers and takes, for the OpenAPI document.

Every body carries `@event` and `@type`; errors are `{"@event", "@type": "error", "user_id"}`
with `errors` when there is something to say (`envelope.render_error`), their events by status
from `envelope.ERROR_EVENTS`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from filedock.core.account_model import AccountType
from filedock.core.catalogue_model import (
    MAX_NAME_LENGTH,
    MAX_SAMPLE_ROWS,
    SPEC_SCHEMA,
    ExecutorType,
)
from filedock.core.download_model import RequestStatus
from filedock.core.extract_model import OPERATORS, ExtractFormat
from filedock.faces.cosphere.envelope import BODY_DID_NOT_VALIDATE, ERROR_EVENTS, GENERIC_ERROR
from filedock.faces.openapi import Answers, ErrorEnvelope, Schema, answer, content, ref, secured

# The catalogue's column list, as the core checks it (a JSON Schema of its own).
Spec = Annotated[list[dict[str, Any]], WithJsonSchema(SPEC_SCHEMA)]
Row = dict[str, Any]


def _event(*events: str) -> Any:
    return Field(alias="@event", json_schema_extra={"enum": list(events)})


class Account(BaseModel):
    type_: Literal["account"] = Field(alias="@type")
    email: str
    id: int
    type: AccountType


class AuthRequestCreated(BaseModel):
    event: str = _event("AUTH_REQUEST_CREATED")
    type_: Literal["auth_request"] = Field(alias="@type")
    authenticate_ui_uri: str = Field(description="The sign-in page to send the person to.")
    request_uuid: str


class Emptied(BaseModel):
    """A done deal with nothing to show: an attached account, a deleted item or request."""

    event: str = _event(
        "ACCOUNT_TO_AUTH_REQUEST_ATTACHED", "CATALOGUEITEM_DELETED", "DOWNLOADREQUEST_DELETED"
    )
    type_: Literal["empty"] = Field(alias="@type")


class AuthTokenCreated(BaseModel):
    event: str = _event("AUTH_TOKEN_CREATED")
    type_: Literal["auth_token"] = Field(alias="@type")
    token: str = Field(description="A Bearer token for the account, living 24 h by default.")


class AccountRead(BaseModel):
    event: str = _event("ACCOUNT_READ")
    type_: Literal["account"] = Field(alias="@type")
    email: str
    id: int
    type: AccountType


class CatalogueItem(BaseModel):
    type_: Literal["catalogue_item"] = Field(alias="@type")
    id: int
    created_by: Account | None
    executor_type: ExecutorType
    key_columns: list[str]
    location: str | None
    maintained_by: Account | None
    name: str
    sample: list[Row]
    spec: Spec
    updated_by: Account | None


class CatalogueItemRead(CatalogueItem):
    event: str = _event(
        "CATALOGUEITEM_CREATED",
        "CATALOGUEITEM_READ",
        "CATALOGUEITEM_UPDATED",
        "CATALOGUEITEM_PROFILED",
    )


class CatalogueItemsList(BaseModel):
    event: str = _event("CATALOGUEITEMS_BULK_READ")
    type_: Literal["catalogue_items_list"] = Field(alias="@type")
    items: list[CatalogueItem]


class CatalogueItemBody(BaseModel):
    """A catalogue item as an admin writes it; `name` and `spec` are required."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    spec: Spec
    executor_type: ExecutorType = ExecutorType.DUCKDB
    sample: list[Row] = Field(default=[], max_length=MAX_SAMPLE_ROWS)
    location: str | None = Field(
        default=None,
        description="`store:<key or prefix under the datasets prefix>`, or a path under a "
        "data root; Parquet or CSV.",
    )
    key_columns: list[str] = Field(default=[], description="Columns of `spec` naming a row.")
    maintained_by_id: int | None = None


class ExtractFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="A column of the item.")
    operator: str = Field(json_schema_extra={"enum": list(OPERATORS)})
    value: Any = Field(description="Of the column's type; dates and times as ISO text.")


class DownloadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[str] = Field(min_length=1)
    filters: list[ExtractFilter] = []
    randomize_ratio: float = Field(default=1, gt=0, le=1)
    format: ExtractFormat = ExtractFormat.CSV


class DownloadRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    catalogue_item_id: int
    spec: DownloadSpec


class UiDataBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    catalogue_item_id: int


class DownloadRequest(BaseModel):
    type_: Literal["download_request"] = Field(alias="@type")
    id: int
    catalogue_item: CatalogueItem
    created_by: Account | None
    estimated_size: int | None
    executor_job_id: str | None
    failure: str | None = Field(description="Why a `failed` request failed.")
    is_cancelled: bool
    real_size: int | None
    spec: DownloadSpec = Field(description="As the job runs it: defaults spelled out.")
    status: RequestStatus
    uri: str | None = Field(description="A signed link to the result once `done`.")


class DownloadRequestRead(DownloadRequest):
    event: str = _event("DOWNLOADREQUEST_CREATED", "DOWNLOADREQUEST_READ")


class DownloadRequestsList(BaseModel):
    event: str = _event("DOWNLOADREQUESTS_BULK_READ")
    type_: Literal["download_requests_list"] = Field(alias="@type")
    requests: list[DownloadRequest]


class EstimatedSize(BaseModel):
    event: str = _event("SIZE_OF_DOWNLOAD_REQUEST_ESTIMATED")
    type_: Literal["download_request_estimated_size"] = Field(alias="@type")
    estimated_size: int = Field(description="Bytes.")


class ColumnOperators(BaseModel):
    type_: Literal["column_operators"] = Field(alias="@type")
    name: str
    operators: list[str]


class UiData(BaseModel):
    event: str = _event("DOWNLOAD_REQUEST_UI_DATA_RENDERED")
    type_: Literal["download_request_render"] = Field(alias="@type")
    columns_operators: list[ColumnOperators]


class CosphereError(BaseModel):
    event: str = Field(alias="@event")
    type_: Literal["error"] = Field(alias="@type")
    errors: dict[str, list[str]] | list[str] | None = Field(
        default=None, description="Messages by field; or the request id of an unexpected error."
    )
    user_id: int | str | None = Field(
        description="The caller's account id, `anonymous` before authentication, or null."
    )


class ItemInUse(BaseModel):
    event: Literal["NOT_CANCELLED_DOWNLOAD_REQEUSTS_DETECTED"] = Field(alias="@event")
    type_: Literal["error"] = Field(alias="@type")
    item_id: int
    not_cancelled_count: int
    user_id: int | str | None


def _error_schema(status: int) -> Schema:
    events = {event for code, event in ERROR_EVENTS.values() if code == status}
    events |= {BODY_DID_NOT_VALIDATE} if status == 400 else set()
    events |= {GENERIC_ERROR} if status == 500 else set()
    return {"allOf": [ref(CosphereError), {"properties": {"@event": {"enum": sorted(events)}}}]}


ERRORS = ErrorEnvelope(
    "application/json",
    _error_schema,
    {
        400: "The body or a parameter did not validate (`errors` per field), or is not JSON.",
        401: "No valid account token (`COULD_NOT_FIND_AUTH_TOKEN`).",
        403: "Admins only (`ACCESS_DENIED`).",
        404: "Nothing with this id, or not yours.",
        408: "The body stopped arriving (FILEDOCK_BODY_IDLE_SECONDS).",
        409: "The item changed meanwhile; read it and try again.",
        429: "Too many auth requests from this address (FILEDOCK_ANONYMOUS_RATE_PER_MINUTE).",
        500: "An unexpected error; `errors` holds the request id.",
        503: "The database or the object store is unreachable; try again later.",
    },
)
# The sign-in page's errors are pages too.
PAGE_ERRORS = ErrorEnvelope(
    "text/html",
    lambda _: {"type": "string"},
    {
        400: "A page: the link is malformed.",
        404: "A page: the link is unknown, used already, or expired.",
        500: "A page: something went wrong on our side.",
        503: "A page: the database is unreachable.",
    },
)
ACCOUNT = secured(["cosphereToken"])
SEARCH_QUERY: Schema = {
    "name": "query",
    "in": "query",
    "required": True,
    "schema": {"type": "string"},
    "description": "Part of the names sought, any case.",
}


def body(model: type[BaseModel]) -> Schema:
    """`openapi_extra` for a JSON request body of `model`'s shape, with the account token."""
    return {**ACCOUNT, "requestBody": {"required": True, **content(ref(model, "validation"))}}


CREATE_AUTH_REQUEST: Answers = {
    201: answer("A sign-in to send the person through.", ref(AuthRequestCreated)),
    **ERRORS(408, 429, 500, 503),
}
AUTHENTICATE_UI: Answers = {
    200: answer("The sign-in page.", {"type": "string"}, "text/html"),
    **PAGE_ERRORS(400, 500, 503),
    404: {
        "description": "A page: the link is unknown, used already, or expired. A uuid no route "
        "takes (a `/` or a line break in it) is not found by routing, which answers in the "
        "face's JSON envelope.",
        "content": {**PAGE_ERRORS(404)[404]["content"], **ERRORS(404)[404]["content"]},
    },
}
ATTACH_ACCOUNT: Answers = {
    200: answer("The signed-in account is attached to the auth request.", ref(Emptied)),
    **ERRORS(400, 404, 408, 500, 503),
}
CREATE_AUTH_TOKEN: Answers = {
    201: answer("A token for the attached account; the request is spent.", ref(AuthTokenCreated)),
    **ERRORS(400, 404, 408, 500, 503),
}
READ_ME: Answers = {
    200: answer("The caller's account.", ref(AccountRead)),
    **ERRORS(401, 500, 503),
}
_ITEM = ref(CatalogueItemRead)
SEARCH_ITEMS: Answers = {
    200: answer("Items whose name holds `query`, case-insensitively.", ref(CatalogueItemsList)),
    **ERRORS(400, 401, 500, 503),
}
CREATE_ITEM: Answers = {
    201: answer("Created.", _ITEM),
    **ERRORS(400, 401, 403, 408, 500, 503),
}
READ_ITEM: Answers = {200: answer("The item.", _ITEM), **ERRORS(400, 401, 404, 500, 503)}
UPDATE_ITEM: Answers = {
    200: answer("Updated.", _ITEM),
    **ERRORS(400, 401, 403, 404, 408, 409, 500, 503),
}
DELETE_ITEM: Answers = {
    200: answer("Deleted.", ref(Emptied)),
    **ERRORS(400, 401, 403, 404, 500, 503),
    400: answer(
        "An id that is not an integer; or download requests for the item are not cancelled.",
        {"anyOf": [_error_schema(400), ref(ItemInUse)]},
    ),
}
PROFILE_ITEM: Answers = {
    200: answer("`spec` and `sample` filled from the data.", _ITEM),
    **ERRORS(400, 401, 403, 404, 409, 500, 503),
}
_REQUEST = ref(DownloadRequestRead)
LIST_REQUESTS: Answers = {
    200: answer("The requests the caller waits for, oldest first.", ref(DownloadRequestsList)),
    **ERRORS(401, 500, 503),
}
CREATE_REQUEST: Answers = {
    201: answer("A new request, or the identical live one, joined.", _REQUEST),
    **ERRORS(400, 401, 404, 408, 500, 503),
}
ESTIMATE: Answers = {
    200: answer("The extract's size, estimated.", ref(EstimatedSize)),
    **ERRORS(400, 401, 404, 408, 500, 503),
}
RENDER_UI_DATA: Answers = {
    200: answer("Each column's filter operators, in the item's order.", ref(UiData)),
    **ERRORS(400, 401, 404, 408, 500, 503),
}
READ_REQUEST: Answers = {200: answer("The request.", _REQUEST), **ERRORS(400, 401, 404, 500, 503)}
DELETE_REQUEST: Answers = {
    200: answer("The caller no longer waits; the last waiter cancels it.", ref(Emptied)),
    **ERRORS(400, 401, 404, 500, 503),
}
