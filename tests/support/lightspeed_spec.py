"""Our OpenAPI document for Lightspeed K-Series Order and Pay, read by openapi-core, as the judge.

The document (edge/pos/openapi/lightspeed_k.yaml) is ours: a restatement of
shared/specs/lightspeed-k-facts.md with closed request bodies and the prose-only rules written as
JSON Schema where JSON Schema can. Every request the fake receives, every successful answer it
gives and every notification it sends is checked against it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

Json = dict[str, Any]
SPEC_PATH = Path(__file__).resolve().parents[2] / "edge" / "pos" / "openapi" / "lightspeed_k.yaml"
SPEC_SERVER = "https://api.lsk.lightspeed.app"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class FieldError:
    """One schema rule a body broke, located by Spring's property path (``items[0].sku``)."""

    field: str
    rule: str  # the JSON Schema keyword: required, maxLength, minimum, not, anyOf, …
    limit: Any
    value: Any
    message: str
    schema: Any = dataclasses.field(
        default=None, compare=False, repr=False
    )  # the schema of that field


class SpecViolation(Exception):
    """A request (or the fake's own answer) that our Lightspeed document rejects."""

    def __init__(
        self,
        message: str,
        errors: Iterable[FieldError] = (),
        missing_parameter: str | None = None,
    ) -> None:
        super().__init__(message)
        self.errors = list(errors)
        self.missing_parameter = missing_parameter


@functools.cache
def raw_spec() -> Json:
    """The YAML document as a dict."""
    return yaml.safe_load(SPEC_PATH.read_text("utf-8"))  # type: ignore[no-any-return]


@functools.cache
def lightspeed_openapi() -> Any:
    """The document as openapi-core reads it (OpenAPI 3.1, spec-validated on load)."""
    from openapi_core import OpenAPI

    spec: Any = raw_spec()
    return OpenAPI.from_dict(spec)


def _spring_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _field_errors(err: BaseException) -> list[FieldError]:
    found: list[FieldError] = []
    cause: BaseException | None = err
    while cause is not None:
        for e in getattr(cause, "schema_errors", ()) or ():
            found += _expand(e)
        cause = cause.__cause__
    return found


def _expand(e: Any) -> list[FieldError]:
    where = list(e.absolute_path)
    base = _spring_path(where)
    instance = e.instance

    def at(name: str) -> str:
        return f"{base}.{name}" if base else name

    props = e.schema.get("properties", {}) if isinstance(e.schema, dict) else {}
    if e.validator == "required" and isinstance(instance, dict):
        return [
            FieldError(
                at(name),
                "required",
                None,
                None,
                f"'{name}' is a required property",
                props.get(name),
            )
            for name in e.validator_value
            if name not in instance
        ]
    if e.validator == "additionalProperties" and isinstance(instance, dict):
        known = set(props)
        return [
            FieldError(at(name), "additionalProperties", None, instance[name], "unknown property")
            for name in instance
            if name not in known
        ]
    if e.validator == "dependentRequired" and isinstance(instance, dict):
        return [
            FieldError(at(need), "dependentRequired", given, None, f"{given} requires {need}")
            for given, needs in e.validator_value.items()
            if given in instance
            for need in needs
            if need not in instance
        ]
    return [
        FieldError(base, str(e.validator), e.validator_value, instance, str(e.message), e.schema)
    ]


def _explain(err: BaseException) -> str:
    parts = [str(err)]
    cause = err.__cause__
    while cause is not None:
        parts.append(str(cause))
        parts += [str(e.message) for e in getattr(cause, "schema_errors", ()) or ()]
        cause = cause.__cause__
    return " | ".join(parts)


def validate_request(
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    query: Json | None = None,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> None:
    """Raise SpecViolation when our document rejects this request."""
    from openapi_core.testing import MockRequest

    request = MockRequest(
        SPEC_SERVER,
        method.lower(),
        path,
        args=query or {},
        data=body,
        headers=headers or {},
        content_type=content_type,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lightspeed_openapi().validate_request(request)
        except Exception as err:
            missing = getattr(err, "name", None) if "Missing" in type(err).__name__ else None
            raise SpecViolation(_explain(err), _field_errors(err), missing) from err


def validate_response(
    method: str, path: str, status: int, body: Any, *, query: Json | None = None
) -> None:
    """Raise SpecViolation when the fake's own answer is not what our document allows."""
    from openapi_core.testing import MockRequest, MockResponse

    request = MockRequest(SPEC_SERVER, method.lower(), path, args=query or {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lightspeed_openapi().validate_response(
                request, MockResponse(json.dumps(body).encode(), status)
            )
        except Exception as err:
            raise SpecViolation(_explain(err), _field_errors(err)) from err


@functools.cache
def _notification_validator(kind: str) -> Any:
    from openapi_schema_validator import OAS31Validator, oas31_format_checker

    schema = {
        "$ref": f"#/components/schemas/{kind}Notification",
        "components": raw_spec()["components"],
    }
    return OAS31Validator(schema, format_checker=oas31_format_checker)


def validate_notification(kind: Literal["Order", "Payment"], body: Json) -> None:
    """Raise SpecViolation when a notification the fake sends breaks our document's webhooks."""
    errors = sorted(_notification_validator(kind).iter_errors(body), key=str)
    if errors:
        raise SpecViolation(
            "; ".join(f"{_spring_path(e.absolute_path)}: {e.message}" for e in errors)
        )


@functools.cache
def query_parameters(template: str, method: str) -> frozenset[str]:
    """The query parameters our document defines for this operation."""
    doc = raw_spec()
    op = doc["paths"][template][method.lower()]
    names = set()
    for param in op.get("parameters", []):
        p = param
        if "$ref" in p:
            p = doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
        if p.get("in") == "query":
            names.add(p["name"])
    return frozenset(names)


@functools.cache
def form_fields(template: str) -> frozenset[str]:
    """The fields of a form-encoded body (openapi-core drops unknown ones silently)."""
    doc = raw_spec()
    schema = doc["paths"][template]["post"]["requestBody"]["content"][FORM]["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return frozenset(schema.get("properties", {}))
