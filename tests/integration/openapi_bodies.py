"""JSON bodies for the OpenAPI fuzz test beyond those the document describes: nearly valid
catalogue items that reach the later checks, wrong ones, bucket notifications, any JSON."""

from __future__ import annotations

from hypothesis import strategies as st

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_COLUMN = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=30) | _JSON,
        "type": st.sampled_from(["STRING", "INTEGER", "FLOAT", "BOOLEAN", "DATE"]) | _JSON,
        "is_nullable": st.booleans() | _JSON,
        "size": st.integers() | _JSON,
        "distribution": st.lists(st.fixed_dictionaries({"value": _JSON, "count": st.integers()})),
    },
)
_CATALOGUE_ITEM = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=250) | _JSON,
        "executor_type": st.sampled_from(["DUCKDB", "SPARK", "DATABRICKS", "ATHENA"]) | _JSON,
        "spec": st.lists(_COLUMN, max_size=3) | _JSON,
        "sample": st.lists(st.dictionaries(st.text(max_size=10), _JSON, max_size=3)) | _JSON,
        "maintained_by_id": st.integers(min_value=-(2**63), max_value=2**63 - 1) | _JSON,
        "location": st.text(max_size=80) | st.just("store:datasets/x/") | _JSON,
    },
)
_BUCKET_EVENT = st.fixed_dictionaries(
    {
        "Records": st.lists(
            st.fixed_dictionaries(
                {
                    "eventName": st.sampled_from(["s3:ObjectCreated:Put", "ObjectRemoved:Delete"])
                    | _JSON,
                    "s3": st.fixed_dictionaries(
                        {
                            "bucket": st.fixed_dictionaries({"name": st.text(max_size=20)}),
                            "object": st.fixed_dictionaries({"key": st.text(max_size=60)}),
                        }
                    )
                    | _JSON,
                }
            ),
            max_size=3,
        )
        | _JSON
    }
)
# An item that passes most checks, so that the later ones are reached too.
_LIKELY_ITEM = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=60),
        "executor_type": st.sampled_from(["DUCKDB", "SPARK", "DATABRICKS", "ATHENA"]),
        "spec": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.text(min_size=1, max_size=20),
                    "type": st.sampled_from(["STRING", "INTEGER", "FLOAT", "BOOLEAN", "DATE"]),
                    "is_nullable": st.booleans(),
                    "size": st.integers(min_value=0, max_value=2**40),
                    "distribution": st.lists(
                        st.fixed_dictionaries({"value": _JSON, "count": st.integers()}),
                        max_size=3,
                    ),
                }
            ),
            max_size=3,
        ),
        "sample": st.lists(st.dictionaries(st.text(max_size=10), _JSON, max_size=3), max_size=2),
    },
    optional={"location": st.text(max_size=80) | st.just("store:datasets/x/")},
)
# JSON bodies beyond the documented ones, by operation: nearly valid, wrong, and any JSON.
EXTRA_BODIES = {
    "POST /catalogue/items/": _LIKELY_ITEM | _CATALOGUE_ITEM | _JSON,
    "PUT /catalogue/items/{item_id}": _LIKELY_ITEM | _CATALOGUE_ITEM | _JSON,
    "POST /_hooks/bucket-events": _BUCKET_EVENT | _JSON,
}
