"""Who calls the cosphere face: `Authorization: Bearer <token>` from the auth-request flow.

`CosphereAccount` is the caller's account as it is now (a token whose account was removed or
changed type is refused); `CosphereAdmin` also requires an ADMIN account. Either leaves the
account on the request, so error bodies name it in `user_id`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from filedock.auth.tokens import extract_bearer
from filedock.core.account_model import Account
from filedock.core.accounts import admin_only
from filedock.faces.context import services
from filedock.faces.cosphere.envelope import ACCOUNT_STATE


async def cosphere_account(request: Request) -> Account:
    """The authenticated caller; `Unauthenticated` (401) for anything else."""
    token = extract_bearer(request.headers.get("authorization"))
    account = await services(request).accounts.authenticate(token)
    setattr(request.state, ACCOUNT_STATE, account)
    return account


async def cosphere_admin(account: Annotated[Account, Depends(cosphere_account)]) -> Account:
    """The authenticated caller if an ADMIN account; `Forbidden` (403) otherwise."""
    return admin_only(account)


CosphereAccount = Annotated[Account, Depends(cosphere_account)]
CosphereAdmin = Annotated[Account, Depends(cosphere_admin)]
