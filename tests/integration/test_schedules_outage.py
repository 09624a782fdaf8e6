"""The schedules face when its object store stops answering: the seed's 410, nothing else."""

from __future__ import annotations

import uuid
from pathlib import Path

from moto.server import ThreadedMotoServer

from tests.fixtures.cognito import CognitoPool
from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.server import LiveServer, server_env

POOL = CognitoPool.create()
UNAVAILABLE = "Our file upload service is currently unavailable, please try again later"


def test_an_unreachable_store_is_the_seeds_410(tmp_path: Path, s3_endpoint: S3Endpoint) -> None:
    own = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    own.start()
    host, port = own.get_host_and_port()
    endpoint = S3Endpoint(f"http://{host}:{port}", s3_endpoint.region, "key-id", "a-secret")
    endpoint.create_bucket("going-away")
    settings = {
        **POOL.settings_in(tmp_path),
        "storage_url": "s3://going-away/objects",
        "s3_endpoint_url": endpoint.url,
        "s3_region": endpoint.region,
    }
    live = LiveServer(data_dir=tmp_path, env=server_env(tmp_path, **settings))
    live.start()
    try:
        headers, schedule = POOL.headers(str(uuid.uuid4())), str(uuid.uuid4())
        with live.client() as client:
            attached = client.get(
                "/api/v1/presigned-urls/",
                params={"method_name": "post_s3_object", "schedule": schedule, "filename": "a.pdf"},
                headers=headers,
            )
            assert attached.status_code == 200, attached.text
            own.stop()
            removed = client.delete(
                f"/api/v1/schedules/{schedule}/documents/",
                params={"document": attached.json()["data"]["id"]},
                headers=headers,
            )
        assert removed.status_code == 410, removed.text
        assert removed.json() == {
            "errors": [
                {
                    "detail": UNAVAILABLE,
                    "source": {"pointer": "/data/attributes/detail"},
                    "status": "404",
                }
            ]
        }
    finally:
        live.stop()
