"""Where settings come from and how they may be shown: the `.env` file's variables as read,
and values with their secrets and URL passwords masked (`filedock config check`, reprs).

Apart from config.py so that it knows nothing of the `Settings` model it describes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import SecretStr

ENV_FILE = ".env"
MASK = "********"


def dotenv_variables() -> dict[str, str | None]:
    """The `.env` file pydantic-settings reads (in the working directory), or nothing."""
    path = Path(ENV_FILE)
    return dict(dotenv_values(path)) if path.is_file() else {}


def given_value(name: str) -> str | None:
    """The raw value of variable `name`: the environment's, else `.env`'s."""
    if name in os.environ:
        return os.environ[name]
    for key, value in dotenv_variables().items():
        if key.upper() == name:
            return value
    return None


def sources_of(variables: Iterable[str]) -> dict[str, str]:
    """Where each variable's value comes from: `environment`, `.env` or `default`.

    Names compare whatever their case, as pydantic-settings reads them.
    """
    environment = {name.upper() for name in os.environ}
    dotenv = {name.upper() for name in dotenv_variables()}
    return {
        name: "environment" if name in environment else ENV_FILE if name in dotenv else "default"
        for name in variables
    }


def shown_value(value: Any, *, secret: bool = False, url: bool = False) -> str:
    """`value` as it may be shown: a secret as a mask, a URL without its password; unset
    (None) as nothing, booleans as the environment spells them."""
    if value is None:
        return ""
    if secret:
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        return MASK if text else ""
    if isinstance(value, bool):
        return str(value).lower()
    return without_password(str(value)) if url else str(value)


def without_password(url: str) -> str:
    """`url` with any password in it masked: `user:pass@host`, and the `;token=` of a Spark
    Connect URL (a Databricks personal access token)."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.netloc.rpartition("@")[2]
        url = parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}").geturl()
    if ";token=" in url:
        head, _, tail = url.partition(";token=")
        rest = tail.partition(";")[2]
        url = f"{head};token={MASK}" + (f";{rest}" if rest else "")
    return url
