"""Bucket housekeeping on S3 with botocore: unfinished multipart uploads, and the CORS rule.

Kept apart from the object store proper (objectstore_s3.py), which moves bytes with obstore;
both take the store's own botocore client, so they sign with its credentials and timeouts.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from filedock.ports.objectstore import StoreUnavailable

# The bucket's CORS rule for browsers holding signed URLs: reads, PUTs, form POSTs, and
# DELETEs (seed 000 hands its clients signed DELETE URLs).
CORS_RULE_ID = "filedock"
_CORS: dict[str, Any] = {
    "AllowedMethods": ["GET", "HEAD", "PUT", "POST", "DELETE"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag", "Content-Length", "Content-Range", "Location"],
    "MaxAgeSeconds": 600,
}


def abort_uploads_idle_since(client: Any, bucket: str, prefix: str, idle_since: datetime) -> int:
    """Abort the multipart uploads under `prefix` that no part has touched since `idle_since`.

    S3 keeps (and bills) the parts of an upload until it is completed or aborted; a writer that
    died never does either. Returns how many were aborted.
    """
    # `search` flattens the pages, and yields None for a page that lists none.
    try:
        pages = client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix
        )
        # Only an upload begun before the cut-off can have been idle since.
        old = [u for u in pages.search("Uploads") if u and u["Initiated"] <= idle_since]
    except (BotoCoreError, ClientError) as exc:
        raise StoreUnavailable(f"cannot list unfinished uploads: {exc}") from exc
    aborted = 0
    for upload in old:
        ids = {"Bucket": bucket, "Key": upload["Key"], "UploadId": upload["UploadId"]}
        # `Initiated` is only the start: an upload still adding parts is alive. One that
        # fails here (say, completed meanwhile) is left for a later round.
        with contextlib.suppress(BotoCoreError, ClientError):
            parts = client.get_paginator("list_parts").paginate(**ids).search("Parts")
            if all(p["LastModified"] <= idle_since for p in parts if p):
                client.abort_multipart_upload(**ids)
                aborted += 1
    return aborted


def apply_cors_rule(client: Any, bucket: str, origins: Sequence[str]) -> tuple[dict[str, Any], int]:
    """Set the bucket's CORS rule `filedock` for `origins`; the rule and how many others stay.

    An earlier `filedock` rule is replaced and the bucket's other rules are kept. The rule is
    the bucket's, whatever the store's prefix: CORS cannot be set on part of a bucket.
    """
    rule = {"ID": CORS_RULE_ID, "AllowedOrigins": list(origins), **copy.deepcopy(_CORS)}
    try:
        try:
            rules = client.get_bucket_cors(Bucket=bucket)["CORSRules"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchCORSConfiguration":
                raise
            rules = []
        kept = [existing for existing in rules if existing.get("ID") != CORS_RULE_ID]
        client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [*kept, rule]})
    except (BotoCoreError, ClientError) as exc:
        raise StoreUnavailable(f"cannot set the bucket's CORS rules: {exc}") from exc
    return rule, len(kept)
