"""Square's published OpenAPI document, read by openapi-core, as the judge of every request."""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import Any

Json = dict[str, Any]
SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "square-api.json"
SPEC_MISSING = f"{SPEC_PATH} is absent: Square request validation skipped"
SPEC_SERVER = "https://connect.squareup.com"


class SpecViolation(Exception):
    """A request (or the fake's own answer) that Square's OpenAPI document rejects."""


def _close_objects(node: Any) -> None:
    # Square answers UNKNOWN_BODY_PARAMETER to fields it does not define; the spec leaves
    # objects open, so close every object that lists its properties (the spec has no allOf).
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


@functools.cache
def _raw_spec() -> Json:
    return json.loads(SPEC_PATH.read_text("utf-8"))  # type: ignore[no-any-return]


@functools.cache
def square_openapi() -> Any:
    """The spec as openapi-core reads it (see shared/specs/PROVENANCE.md for the two quirks)."""
    from openapi_core import Config, OpenAPI

    doc = json.loads(json.dumps(_raw_spec()))
    doc["info"].pop("externalDocs", None)
    _close_objects(doc["components"]["schemas"])
    return OpenAPI.from_dict(doc, config=Config(spec_validator_cls=None))


def _explain(err: Exception) -> str:
    parts = [str(err)]
    cause = err.__cause__
    while cause is not None:
        parts.append(str(cause))
        parts += [str(e.message) for e in getattr(cause, "schema_errors", ()) or ()]
        cause = cause.__cause__
    return " | ".join(parts)


def validate_request(
    method: str, path: str, *, body: bytes | None = None, query: Json | None = None
) -> None:
    """Raise SpecViolation when Square's spec rejects this request."""
    from openapi_core.testing import MockRequest

    request = MockRequest(SPEC_SERVER, method.lower(), path, args=query or {}, data=body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unsupported scheme type": the oauth2 scheme
        try:
            square_openapi().validate_request(request)
        except Exception as err:
            raise SpecViolation(_explain(err)) from err


def validate_response(method: str, path: str, status: int, body: Json) -> None:
    """Raise SpecViolation when the fake's own answer is not what Square would send."""
    from openapi_core.testing import MockRequest, MockResponse

    request = MockRequest(SPEC_SERVER, method.lower(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            square_openapi().validate_response(
                request, MockResponse(json.dumps(body).encode(), status)
            )
        except Exception as err:
            raise SpecViolation(_explain(err)) from err


@functools.cache
def query_parameters(template: str, method: str) -> frozenset[str]:
    """The query parameters the spec defines for this operation."""
    doc = _raw_spec()
    op = doc["paths"][template][method.lower()]
    return frozenset(p["name"] for p in op.get("parameters", []) if p.get("in") == "query")


@functools.cache
def enum_values(schema: str) -> frozenset[str]:
    """The values of one of the spec's enums (e.g. CatalogObjectType)."""
    return frozenset(_raw_spec()["components"]["schemas"][schema]["enum"])
