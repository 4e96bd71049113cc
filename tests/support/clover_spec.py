"""Our own Clover OpenAPI document (edge/pos/openapi/clover.yaml), read by openapi-core, as the
judge of every request the fake Clover receives and of every successful answer it gives."""

from __future__ import annotations

import functools
import json
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

Json = dict[str, Any]
SPEC_PATH = Path(__file__).resolve().parents[2] / "edge" / "pos" / "openapi" / "clover.yaml"
SPEC_SERVER = "https://api.clover.com"

# OAuth v2 refresh (clover-facts.md §2): not under /v3, so not in clover.yaml (which describes
# exactly the merchant endpoints); the fake checks its body against this schema of ours.
OAUTH_REFRESH_BODY: Json = {
    "type": "object",
    "additionalProperties": False,
    "required": ["client_id", "refresh_token"],
    "properties": {
        "client_id": {"type": "string", "minLength": 1},
        "refresh_token": {"type": "string", "minLength": 1},
    },
}


class SpecViolation(Exception):
    """A request (or the fake's own answer) that our Clover OpenAPI document rejects."""


@functools.cache
def raw_spec() -> Json:
    """The YAML document as plain data."""
    doc: Json = yaml.safe_load(SPEC_PATH.read_text("utf-8"))
    return doc


@functools.cache
def clover_openapi() -> Any:
    """The document as openapi-core reads it (its own spec validator on: the document is ours)."""
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(json.loads(json.dumps(raw_spec())))


def _describe(error: Any) -> str:
    """One schema error: where, and what (the rule instead of a huge offending value)."""
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    text = str(error.message)
    if len(text) > 200:
        text = f"fails {error.validator}: {error.validator_value!r}"[:200]
    return f"{where}: {text}"


def _explain(err: Exception) -> str:
    parts = [str(err)[:200]]
    cause = err.__cause__
    while cause is not None:
        parts.append(str(cause)[:200])
        parts += [_describe(e) for e in getattr(cause, "schema_errors", ()) or ()]
        cause = cause.__cause__
    return " | ".join(parts)


def _deref(node: Any) -> Any:
    """The node with every $ref replaced by its target (our document has no recursive ref)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = raw_spec()
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _deref(target)
        return {k: _deref(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_deref(v) for v in node]
    return node


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    return [
        (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(t)) + "$"), t)
        for t in raw_spec()["paths"]
    ]


def template_of(path: str) -> str | None:
    """The document's path template matching a concrete path."""
    return next((t for pattern, t in _templates() if pattern.match(path)), None)


@functools.cache
def _body_schema(template: str, method: str, status: int | None) -> Json | None:
    op = raw_spec()["paths"][template].get(method.lower())
    if op is None:
        return None
    holder = op.get("requestBody") if status is None else op["responses"].get(str(status))
    if holder is None:
        return None
    schema = _deref(holder).get("content", {}).get("application/json", {}).get("schema")
    return schema  # type: ignore[no-any-return]


def _check_body(path: str, method: str, status: int | None, body: Any) -> None:
    # openapi-core casts JSON values to the schema's type before validating ("2" and 2.5 pass as
    # an integer), so bodies are checked again as they are, without casting.
    from openapi_schema_validator import (
        OAS30ReadValidator,
        OAS30WriteValidator,
        oas30_format_checker,
    )

    template = template_of(path)
    schema = None if template is None else _body_schema(template, method, status)
    if schema is None or body is None:
        return
    cls = OAS30WriteValidator if status is None else OAS30ReadValidator
    errors = sorted(cls(schema, format_checker=oas30_format_checker).iter_errors(body), key=str)
    if errors:
        raise SpecViolation(_describe(errors[0]))


def validate_request(
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    query: Iterable[tuple[str, str]] = (),
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    """Raise SpecViolation when our Clover document rejects this request (repeated query
    parameters such as `filter=` are kept: pass the pairs in order)."""
    from openapi_core.testing import MockRequest

    request = MockRequest(
        SPEC_SERVER,
        method.lower(),
        path,
        args=list(query),  # type: ignore[arg-type]  # a MultiDict keeps repeated keys
        headers=list(headers),  # type: ignore[arg-type]
        data=body,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            clover_openapi().validate_request(request)
        except Exception as err:
            raise SpecViolation(_explain(err)) from err
    if body:
        _check_body(path, method, None, json.loads(body))


def validate_response(method: str, path: str, status: int, body: Json | None) -> None:
    """Raise SpecViolation when the fake's own answer is not what our document says Clover sends."""
    from openapi_core.testing import MockRequest, MockResponse

    request = MockRequest(SPEC_SERVER, method.lower(), path)
    data = b"" if body is None else json.dumps(body).encode()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            clover_openapi().validate_response(request, MockResponse(data, status))
        except Exception as err:
            raise SpecViolation(_explain(err)) from err
    _check_body(path, method, status, body)


def validate_refresh(body: Any) -> None:
    """Raise SpecViolation when an OAuth refresh body is not {client_id, refresh_token}."""
    import jsonschema

    try:
        jsonschema.validate(body, OAUTH_REFRESH_BODY)
    except jsonschema.ValidationError as err:
        raise SpecViolation(f"OAuth refresh body: {err.message}") from err


def _resolve(node: Json) -> Json:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = raw_spec()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return _resolve(target)


@functools.cache
def query_parameters(template: str, method: str) -> frozenset[str]:
    """The query parameters the document defines for this operation."""
    item = raw_spec()["paths"][template]
    params = [_resolve(p) for p in item.get("parameters", [])]
    params += [_resolve(p) for p in item[method.lower()].get("parameters", [])]
    return frozenset(p["name"] for p in params if p.get("in") == "query")


@functools.cache
def has_operation(template: str, method: str) -> bool:
    """Whether the document describes this method on this path template."""
    return method.lower() in raw_spec()["paths"].get(template, {})
