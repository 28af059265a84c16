"""The fast path's answer is encoded exactly as FastAPI's JSONResponse encodes it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from ingest.fastpath import _ENCODER

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _JSON, max_size=6))
def test_answer_bytes_are_jsonresponses(body: dict[str, Any]) -> None:
    assert _ENCODER.encode(body).encode() == JSONResponse(body).body
    assert _ENCODER.encode(body) == json.dumps(
        body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    )
