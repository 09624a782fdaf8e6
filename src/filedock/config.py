"""Settings, read once at start-up from `FILEDOCK_*` environment variables (and `.env`).

A bad or unknown value stops start-up with one line naming the variable (`SettingsError`),
whether it came from the environment or from `.env`. Secrets are `SecretStr`, so a repr, a
log line or a traceback never shows them.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from filedock.auth.oidc import GOOGLE_ISSUER, GOOGLE_JWKS_URL
from filedock.config_view import ENV_FILE, dotenv_variables, given_value, without_password
from filedock.core.catalogue_model import DATASETS_PREFIX
from filedock.core.files import PRIVATE_PREFIX
from filedock.core.upload_policy import (
    BROWSER_UI_POLICY,
    FORM_COMMAND_POLICY,
    LANDING_PREFIX,
    SCHEDULES_PREFIX,
    SIGNED_URL_POLICY,
)
from filedock.ports.keys import validate_key
from filedock.ports.objectstore import InvalidKey
from filedock.ports.presign import UploadLimits, check_limits
from filedock.ports.scanner_clamd import parse_clamd_url

ENV_PREFIX = "FILEDOCK_"
# Never shown: masked by `filedock config check`, left out of error lines.
SECRET_SETTINGS = frozenset(
    {"jwt_secret", "metrics_token", "hasura_gateway_secret", "bucket_notification_token"}
)
# URLs a password may be written into (`postgresql://user:pass@host/db`).
URL_SETTINGS = frozenset({"database_url", "spark_remote", "s3_endpoint_url", "clamd_url"})
_MIN_TOKEN_CHARACTERS = 16
LOG_FORMATS = ("auto", "console", "json")
_MEMORY_SIZE = r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"


class SettingsError(Exception):
    """One clear line naming the offending variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=ENV_FILE, extra="ignore", validate_default=True
    )

    data_dir: Path = Path("./data")
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    # Each wait on the S3 store (a request, the next chunk of a download): a hung store is
    # then a 503 in this time, like a dead one.
    store_timeout_seconds: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)
    public_url: str = "http://127.0.0.1:8000"
    # Web apps' origins allowed to call the faces from a browser (faces/cors.py),
    # comma-separated, like https://app.example.org; `*` alone: any origin. None by default.
    cors_origins: str = ""
    # Empty: the one kept in the data folder (`load_settings`).
    jwt_secret: SecretStr = SecretStr("")
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwks_url: str | None = None
    # The schedules face's ACCESSTOKEN/IDTOKEN pair (auth/cognito.py): all three, or none.
    cognito_jwks_url: str | None = None
    cognito_issuer: str | None = None
    cognito_client_id: str | None = None
    max_upload_bytes: int = Field(default=5 * 1024**3, gt=0)
    # A request body that sends nothing for this long is abandoned with 408 (body_guard.py).
    body_idle_seconds: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)
    # Bodies read at once per server worker process; one more gets 503 at once. At most 768
    # of the 1024 connections a worker holds (server.py), so the rest always serve others.
    max_concurrent_uploads: int = Field(default=256, gt=0, le=768)
    log_level: str = "info"
    # `console`: readable lines; `json`: one JSON object a line; `auto`: console when stderr
    # is a terminal, JSON otherwise (a log collector, a file).
    log_format: str = "auto"
    worker: bool = True
    job_poll_seconds: float = Field(default=1.0, gt=0)
    # A claimed job is renewed every third of its lease while it runs, so the lease only
    # decides how soon a dead worker's job is taken over (core/worker.py).
    job_lease_seconds: int = Field(default=15, gt=0)
    # Processing jobs one process runs at once (extracts: one at a time, on a lane of their own).
    # Concurrent jobs' record moves share a transaction on SQLite (db/transactions.py), so
    # small files are processed faster with more in flight (docs/benchmarks.md).
    job_concurrency: int = Field(default=64, gt=0, le=256)
    job_max_attempts: int = Field(default=10, gt=0)
    # How long a read (download, download URL) of a file still being processed waits for the
    # outcome before answering 409; 0: at once. Seconds, fractions allowed.
    read_wait_seconds: float = Field(default=10.0, ge=0, le=300, allow_inf_nan=False)
    sweep_seconds: float = Field(default=60.0, gt=0)
    # A round heads every ready object (one request each on S3): hourly, not every minute.
    reconcile_seconds: float = Field(default=3600.0, gt=0)
    # Bearer token a bucket's webhook (MinIO `notify_webhook` auth_token) must send; unset
    # turns the notification endpoint off.
    bucket_notification_token: SecretStr | None = None
    fsync: bool = False
    # Large local objects are written with O_DIRECT where the file system takes it
    # (ports/direct_writes.py); false writes through the page cache.
    direct_writes: bool = True
    clamd_url: str | None = None
    # The signed-url face's upload policy; the defaults are seed 001's.
    signed_url_types: str = ",".join(SIGNED_URL_POLICY.allowed_types)
    signed_url_max_bytes: int = Field(default=SIGNED_URL_POLICY.max_bytes, gt=0)
    signed_url_key_prefix: str = SIGNED_URL_POLICY.key_prefix
    signed_url_expiry_seconds: int = Field(default=600, ge=1, le=7 * 24 * 3600)
    temporary_file_hours: float = Field(default=24.0, gt=0, allow_inf_nan=False)
    # The schedules face's documents (seed 000).
    schedules_extensions: str = "pdf,png,jpg,jpeg,doc,docx,xls,xlsx,csv,txt"
    schedules_max_documents: int = Field(default=20, gt=0)
    schedules_max_bytes: int = Field(default=10_485_760, gt=0)
    # The seed's URLs live 20 s: long enough to start a transfer, too short to pass around.
    schedules_url_expiry_seconds: int = Field(default=20, ge=1, le=7 * 24 * 3600)
    # Folders whose Parquet/CSV files catalogue items may name as a local `location`
    # (colon-separated); empty: only `store:` locations, nothing else on this host is read.
    catalogue_data_roots: str = ""
    # The only part of filedock's store a `store:` location may name; never where uploads land.
    catalogue_datasets_prefix: str = DATASETS_PREFIX
    # Download requests (core/extracts.py). DuckDB runs in the server's worker with this
    # memory limit (DuckDB's own syntax: 512MB, 2GB), spilling to the scratch folder
    # (empty: the system's temp folder) beyond it.
    duckdb_memory_limit: str = Field(default="512MB", pattern=_MEMORY_SIZE)
    duckdb_threads: int | None = Field(default=None, gt=0, le=1024)
    # DuckDB queries at once per process (exports and estimates); each may use the limit.
    duckdb_max_queries: int = Field(default=2, gt=0, le=64)
    extract_scratch_dir: Path | None = None
    # Fill in each request's `estimated_size` before its export, at the cost of one more pass.
    extract_estimate_first: bool = False
    # Items of executor type SPARK or DATABRICKS run on this Spark Connect server
    # (sc://host:15002; Databricks Connect speaks the same); unset: such requests fail, saying so.
    spark_remote: str | None = None
    # Items of executor type ATHENA: the work group and the S3 folder Athena writes results to.
    athena_region: str | None = None
    athena_work_group: str | None = None
    athena_output_location: str | None = None
    # Per caller and per server worker process; 0 turns limiting off (core/rate_limit.py).
    rate_limit_per_second: float = Field(default=20.0, ge=0, allow_inf_nan=False)
    rate_limit_burst: int = Field(default=40, gt=0)
    # The cosphere face's sign-in (auth/oidc.py): no client id, no sign-in.
    oidc_client_id: str | None = None
    oidc_issuer: str = GOOGLE_ISSUER
    oidc_jwks_url: str = GOOGLE_JWKS_URL
    # Minutes, fractions allowed (tests use seconds' worth); a day at most.
    auth_request_minutes: float = Field(default=10.0, gt=0, le=24 * 60, allow_inf_nan=False)
    account_token_hours: float = Field(default=24.0, gt=0, le=24 * 366, allow_inf_nan=False)
    # Anonymous requests that write a row (cosphere auth requests), per client address and
    # minute, with bursts of as many; 0 turns the limit off.
    anonymous_rate_per_minute: int = Field(default=30, ge=0)
    # Proxies whose `X-Forwarded-For` is believed, comma-separated addresses; none by default,
    # so behind a proxy every client looks like the proxy until it is listed here.
    trusted_proxies: str = ""
    # `/metrics`: with a token, only `Authorization: Bearer <token>` reads it; without one it
    # is served only when FILEDOCK_METRICS_PUBLIC is true (a private network), else 404.
    metrics_token: SecretStr | None = None
    # Seed 004 behind a gateway: X-Hasura-User-Id / X-Hasura-Role are believed only from a
    # request that also carries this secret in X-Filedock-Gateway-Secret; off when unset.
    hasura_gateway_secret: SecretStr | None = None
    metrics_public: bool = False

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # SecretStr masks itself; a URL's password is masked here.
        for name, value in super().__repr_args__():
            url = name in URL_SETTINGS and isinstance(value, str)
            yield name, without_password(value) if url else value

    @field_validator("metrics_token", "hasura_gateway_secret", "bucket_notification_token")
    @classmethod
    def _tokens_are_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < _MIN_TOKEN_CHARACTERS:
            raise ValueError(f"must be at least {_MIN_TOKEN_CHARACTERS} characters long")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        proxies = [part.strip() for part in value.split(",") if part.strip()]
        for proxy in proxies:
            try:
                ipaddress.ip_address(proxy)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address") from None
        return ",".join(proxies)

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins_are_origins(cls, value: str) -> str:
        origins = [part.strip() for part in value.split(",") if part.strip()]
        if "*" in origins:
            if len(origins) > 1:
                raise ValueError("'*' (any origin) stands alone, not beside named origins")
            return "*"
        return ",".join(_browser_origin(origin) for origin in origins)

    @field_validator("s3_endpoint_url")
    @classmethod
    def _s3_endpoint_is_http(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL, like http://127.0.0.1:9000")
        return value.rstrip("/")

    @field_validator(
        "cognito_jwks_url",
        "cognito_issuer",
        "cognito_client_id",
        "spark_remote",
        "athena_region",
        "athena_work_group",
        "athena_output_location",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # `FILEDOCK_COGNITO_ISSUER=` in a .env means "not set", not "an empty issuer".
        if value is None or not value.strip():
            return None
        return value.strip()

    @field_validator("cognito_issuer")
    @classmethod
    def _cognito_issuer_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "must be an absolute http(s) URL, like "
                "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_abc123"
            )
        # Not normalised: tokens' `iss` is compared with it exactly.
        return value

    @model_validator(mode="after")
    def _cognito_is_all_or_nothing(self) -> Settings:
        values = {
            "COGNITO_JWKS_URL": self.cognito_jwks_url,
            "COGNITO_ISSUER": self.cognito_issuer,
            "COGNITO_CLIENT_ID": self.cognito_client_id,
        }
        missing = [ENV_PREFIX + name for name, value in values.items() if value is None]
        if missing and len(missing) < len(values):
            # Half a configuration would silently leave the schedules face unauthenticatable.
            raise ValueError(
                f"{', '.join(missing)} must be set too: Cognito authentication needs "
                f"{ENV_PREFIX}COGNITO_JWKS_URL, {ENV_PREFIX}COGNITO_ISSUER and "
                f"{ENV_PREFIX}COGNITO_CLIENT_ID together"
            )
        return self

    @model_validator(mode="after")
    def _extract_engines_are_complete(self) -> Settings:
        remote = self.spark_remote
        if remote is not None and not remote.startswith(("sc://", "local")):
            raise ValueError(
                f"{ENV_PREFIX}SPARK_REMOTE must be a Spark Connect URL, sc://host:15002 "
                "(or local[n] to start one in this process)"
            )
        output = self.athena_output_location
        if output is not None and not output.startswith("s3://"):
            raise ValueError(f"{ENV_PREFIX}ATHENA_OUTPUT_LOCATION must be an s3:// folder")
        if output is not None and self.athena_region is None:
            raise ValueError(f"{ENV_PREFIX}ATHENA_REGION must be set with Athena extracts on")
        return self

    @field_validator("oidc_client_id")
    @classmethod
    def _blank_client_id_is_unset(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    @field_validator("oidc_issuer")
    @classmethod
    def _oidc_issuer_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL, like https://accounts.google.com")
        # Not normalised: ID tokens' `iss` is compared with it exactly.
        return value

    @field_validator("oidc_jwks_url")
    @classmethod
    def _oidc_jwks_is_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a JWKS file path or an http(s) URL")
        return value.strip()

    @model_validator(mode="after")
    def _oidc_keys_match_the_issuer(self) -> Settings:
        if self.oidc_issuer != GOOGLE_ISSUER and self.oidc_jwks_url == GOOGLE_JWKS_URL:
            # Google's keys would never verify another provider's tokens: say so at start-up.
            raise ValueError(
                f"{ENV_PREFIX}OIDC_JWKS_URL must be set too: {ENV_PREFIX}OIDC_ISSUER names "
                "another provider than Google, whose keys are the default"
            )
        return self

    @field_validator("clamd_url")
    @classmethod
    def _clamd_url_is_a_socket(cls, value: str | None) -> str | None:
        if not value:
            return None
        # The backend's own parser, so the setting and the scanner agree on what is valid.
        parse_clamd_url(value)
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_url_is_known(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("file", "s3", ""):
            raise ValueError("must be a folder path, file:///path or s3://bucket/prefix")
        if value.startswith("s3://") and not urlsplit(value).netloc:
            raise ValueError("s3:// URL needs a bucket: s3://bucket/prefix")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_known(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("signed_url_types")
    @classmethod
    def _types_are_media_types(cls, value: str) -> str:
        types = [kind.strip().lower() for kind in value.split(",") if kind.strip()]
        if not types:
            raise ValueError("name at least one media type, comma-separated")
        for kind in types:
            # The same rule signed URLs apply to a bound content type.
            check_limits(UploadLimits(max_bytes=0, content_type=kind))
        return ",".join(types)

    @field_validator("schedules_extensions")
    @classmethod
    def _extensions_are_plain(cls, value: str) -> str:
        extensions = [part.strip().lower().lstrip(".") for part in value.split(",")]
        extensions = [extension for extension in extensions if extension]
        if not extensions or not all(e.isascii() and e.isalnum() for e in extensions):
            raise ValueError("name file extensions, comma-separated, like pdf,png,csv")
        return ",".join(extensions)

    @field_validator("signed_url_key_prefix")
    @classmethod
    def _prefix_is_a_landing_folder(cls, value: str) -> str:
        if not value.endswith("/") or value.startswith(PRIVATE_PREFIX):
            raise ValueError(f"must end with '/' and not be under {PRIVATE_PREFIX}")
        try:
            validate_key(value.rstrip("/"))
        except InvalidKey as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("catalogue_datasets_prefix")
    @classmethod
    def _datasets_prefix_is_a_folder(cls, value: str) -> str:
        if not value.endswith("/") or not value.strip("/"):
            raise ValueError("must end with '/' and name a folder of the store, like datasets/")
        try:
            validate_key(value.rstrip("/"))
        except InvalidKey as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _datasets_prefix_is_apart_from_uploads(self) -> Settings:
        # A catalogue admin could otherwise profile (and read samples of) anyone's upload.
        datasets = self.catalogue_datasets_prefix
        for prefix in self.upload_prefixes():
            if datasets.startswith(prefix) or prefix.startswith(datasets):
                raise ValueError(
                    f"{ENV_PREFIX}CATALOGUE_DATASETS_PREFIX: must not overlap {prefix!r}, "
                    f"where uploads are written (got {datasets!r})"
                )
        return self

    def upload_prefixes(self) -> tuple[str, ...]:
        """Every key prefix uploads and their processing write under."""
        return (
            LANDING_PREFIX,
            FORM_COMMAND_POLICY.key_prefix,
            BROWSER_UI_POLICY.key_prefix,
            PRIVATE_PREFIX,
            self.signed_url_key_prefix,
            SCHEDULES_PREFIX,
        )

    def cors_origin_list(self) -> tuple[str, ...]:
        """The allowed browser origins, as browsers send them; `("*",)` for any."""
        return tuple(origin for origin in self.cors_origins.split(",") if origin)

    def catalogue_roots(self) -> list[Path]:
        return [Path(part) for part in self.catalogue_data_roots.split(":") if part.strip()]

    @field_validator("log_level")
    @classmethod
    def _log_level_is_known(cls, value: str) -> str:
        if value.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()

    @field_validator("log_format")
    @classmethod
    def _log_format_is_known(cls, value: str) -> str:
        if value.strip().lower() not in LOG_FORMATS:
            raise ValueError("must be one of " + ", ".join(LOG_FORMATS))
        return value.strip().lower()

    @property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'filedock.db'}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        if url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        if url.startswith("sqlite:///"):
            url = "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        return url

    @property
    def resolved_storage_url(self) -> str:
        if not self.storage_url:
            return f"file://{self.data_dir.resolve() / 'objects'}"
        if "://" not in self.storage_url:
            return f"file://{Path(self.storage_url).resolve()}"
        return self.storage_url


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise `SettingsError` naming the first bad variable.

    Makes the data folder, and the signing secret kept there unless one is set.
    """
    settings = read_settings(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.jwt_secret.get_secret_value():
        settings.jwt_secret = SecretStr(_data_dir_secret(settings.data_dir))
    return settings


def read_settings(**overrides: Any) -> Settings:
    """The settings as `load_settings` reads them, without writing anything."""
    _refuse_unknown_variables()
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:
            # A check across variables (model_validator) names them in its own message.
            raise SettingsError(message) from None
        field = str(error["loc"][0])
        raw = None if field in SECRET_SETTINGS else given_value(ENV_PREFIX + field.upper())
        got = f" (got {raw!r})" if raw is not None else ""
        raise SettingsError(f"{ENV_PREFIX}{field.upper()}: {message}{got}") from None


# Read by `filedock.client` and the file commands, never by the server: known, so a shell
# set up for the client still runs `filedock serve` or `filedock apikey create`.
CLIENT_VARIABLES = frozenset(
    {"FILEDOCK_URL", "FILEDOCK_API_KEY", "FILEDOCK_USER_ID", "FILEDOCK_TOKEN"}
)


def _refuse_unknown_variables() -> None:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | CLIENT_VARIABLES
    for name in sorted(os.environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            raise SettingsError(f"{name}: unknown setting (see docs/configuration.md)")
    # pydantic-settings reads `.env` names whatever their case, so they are checked so too.
    for name in dotenv_variables():
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            raise SettingsError(f"{name}: unknown setting in .env (see docs/configuration.md)")


def _data_dir_secret(data_dir: Path) -> str:
    """A signing secret kept beside the data, so `serve` and `token create` agree untold."""
    path = data_dir / "jwt-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _browser_origin(origin: str) -> str:
    """`origin` spelled as browsers send it in `Origin` (lower case, no default port), so an
    exact comparison is right; refused unless it is scheme://host[:port] and nothing more."""
    parts = urlsplit(origin)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = -1
    extra = parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc
    if scheme not in ("http", "https") or not host or not host.isascii() or extra or port == -1:
        raise ValueError(
            f"{origin!r} is not an origin: write scheme://host[:port] without a path, "
            "like https://app.example.org"
        )
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + ("" if port in (None, default) else f":{port}")
