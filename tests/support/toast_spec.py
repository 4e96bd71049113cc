"""Toast's published Swagger 2.0 documents and our extra OpenAPI 3.0 one, judged by jsonschema.

openapi-core does not read Swagger 2.0 (see shared/specs/PROVENANCE.md), so bodies are
validated with jsonschema (draft 4, the dialect of Swagger 2.0 schemas) against the
documents' own definitions, and headers and query parameters against each operation's
`parameters`. Requests are judged strictly: `allOf` is merged and every object that lists
its properties is closed (a field Toast does not define is a connector bug), and the
`guid`/`entityType` every entity inherits from `ToastReference` are not required (a new
order cannot have them). Answers are judged as published (open objects).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

Json = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = ROOT.parent / "shared" / "specs"
ORDERS_SPEC = SPECS_DIR / "toast-orders-openapi.yaml"
MENUS_SPEC = SPECS_DIR / "toast-menus-openapi.yaml"
EXTRA_SPEC = ROOT / "edge" / "pos" / "openapi" / "toast-extra.yaml"
SPEC_MISSING = f"{ORDERS_SPEC.parent}/toast-*-openapi.yaml absent: Toast validation skipped"
# name -> (file, prefix of its paths); the extra document writes full paths
DOCUMENTS = {
    "orders": (ORDERS_SPEC, "/orders/v2"),
    "menus": (MENUS_SPEC, "/menus/v2"),
    "extra": (EXTRA_SPEC, ""),
}
INHERITED_REFERENCE = ("guid", "entityType")
# The published POST /orders answer is `OrderResponse` ({"orders": [Order]}), but the same
# operation's description ("Returns a JSON Order object") and its example answer a bare
# Order: the fake answers a bare Order and is judged against Order.
RESPONSE_OVERRIDES = {("POST", "/orders/v2/orders"): {"$ref": "#/definitions/Order"}}
_REQUIRED = re.compile(r"'(\w+)' is a required property")


class SpecViolation(Exception):
    """A request (or the fake's own answer) that the Toast documents reject."""


def specs_present() -> bool:
    """Whether Toast's published documents are where the fake expects them."""
    return ORDERS_SPEC.is_file() and MENUS_SPEC.is_file()


@dataclass(frozen=True)
class Operation:
    """What one documented operation accepts and answers."""

    spec: str
    method: str
    template: str
    headers: frozenset[str]  # required header names, lower case
    query: Mapping[str, str]  # query parameter -> type
    body: Json | None
    body_required: bool
    response: Json | None


def _walk(node: Any) -> Iterator[Json]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@functools.cache
def _load(name: str) -> Json:
    path, _prefix = DOCUMENTS[name]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc: Json = yaml.load(path.read_text("utf-8"), Loader=loader)
    for node in _walk(doc):
        # YAML 1.1 reads the enum values YES and NO (containsAlcohol,
        # defaultOptionsChargePrice...) as booleans: they are strings in JSON.
        if node.get("type") == "string" and isinstance(node.get("enum"), list):
            node["enum"] = [
                ("YES" if v else "NO") if isinstance(v, bool) else v for v in node["enum"]
            ]
    return doc


def _schemas(name: str, doc: Json) -> Json:
    if name == "extra":
        return doc["components"]["schemas"]  # type: ignore[no-any-return]
    return doc["definitions"]  # type: ignore[no-any-return]


def _resolve(ref: str, schemas: Json) -> Json:
    return schemas[ref.rsplit("/", 1)[-1]]  # type: ignore[no-any-return]


def _flatten(node: Any, schemas: Json) -> Any:
    """Merge `allOf` into one object schema, so that closing it does not split its parts."""
    if isinstance(node, list):
        return [_flatten(v, schemas) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _flatten(v, schemas) for k, v in node.items()}
    parts = node.pop("allOf", None)
    if parts is None:
        return node
    properties = dict(node.get("properties", {}))
    required = list(node.get("required", []))
    for raw in parts:
        part = _flatten(_resolve(raw["$ref"], schemas), schemas) if "$ref" in raw else raw
        properties.update(part.get("properties", {}))
        required += [r for r in part.get("required", []) if r not in required]
    node.update(type="object", properties=properties)
    if required:
        node["required"] = required
    return node


def _prepare(node: Any, flavor: str, schemas: Json) -> Any:
    """A schema as judged for this flavor: request, answer or unpersisted answer."""
    if flavor == "request":
        node = _flatten(node, schemas)
    for obj in _walk(node):
        if flavor == "request" and "properties" in obj and "additionalProperties" not in obj:
            obj["additionalProperties"] = False
        if flavor in ("request", "unpersisted") and isinstance(obj.get("required"), list):
            kept = [r for r in obj["required"] if r not in INHERITED_REFERENCE]
            if kept:
                obj["required"] = kept
            else:
                del obj["required"]
        if (obj.get("x-nullable") is True or obj.get("nullable") is True) and isinstance(
            obj.get("type"), str
        ):
            obj["type"] = [obj["type"], "null"]
            if isinstance(obj.get("enum"), list) and None not in obj["enum"]:
                obj["enum"] = [*obj["enum"], None]
    return node


@functools.cache
def _root(name: str, flavor: str) -> Json:
    doc = _load(name)
    schemas = copy.deepcopy(_schemas(name, doc))
    prepared = {k: _prepare(v, flavor, _schemas(name, doc)) for k, v in schemas.items()}
    if name == "extra":
        return {"components": {"schemas": prepared}}
    return {"definitions": prepared}


def _parameters(name: str, raw: list[Json]) -> list[Json]:
    doc = _load(name)
    out = []
    for p in raw:
        ref = p.get("$ref")
        out.append(doc["components"]["parameters"][ref.rsplit("/", 1)[-1]] if ref else p)
    return out


@functools.cache
def operation(method: str, template: str) -> Operation | None:
    """The documented operation behind this method and full path template, if any."""
    for name, (_path, prefix) in DOCUMENTS.items():
        doc = _load(name)
        if not template.startswith(prefix):
            continue
        op = (doc["paths"].get(template[len(prefix) :]) or {}).get(method.lower())
        if op is None:
            continue
        params = _parameters(name, op.get("parameters", []))
        headers = frozenset(
            p["name"].lower() for p in params if p["in"] == "header" and p.get("required")
        )
        query = {
            p["name"]: p.get("type") or p.get("schema", {}).get("type", "string")
            for p in params
            if p["in"] == "query"
        }
        body, body_required = None, False
        for p in params:
            if p["in"] == "body":
                body, body_required = p["schema"], bool(p.get("required"))
        if "requestBody" in op:
            body = op["requestBody"]["content"]["application/json"]["schema"]
            body_required = bool(op["requestBody"].get("required"))
        ok = op.get("responses", {}).get("200", {})
        response = ok.get("schema") or ok.get("content", {}).get("application/json", {}).get(
            "schema"
        )
        response = RESPONSE_OVERRIDES.get((method.upper(), template), response)
        return Operation(
            name, method.upper(), template, headers, query, body, body_required, response
        )
    return None


@functools.cache
def _validator(method: str, template: str, part: str, flavor: str) -> Draft4Validator:
    op = operation(method, template)
    assert op is not None
    schema = op.body if part == "body" else op.response
    root = _root(op.spec, flavor)
    schemas = _schemas(op.spec, _load(op.spec))
    inline = _prepare(copy.deepcopy(schema), flavor, schemas)
    return Draft4Validator({**inline, **root})


def _exempt(err: ValidationError) -> bool:
    # Toast's guide documents special requests as modifiers carrying only
    # {"selectionType": "SPECIAL_REQUEST", "displayName": ...}, although Selection
    # requires `item` and `quantity`: the guide wins for those two.
    match = _REQUIRED.match(err.message)
    return (
        err.validator == "required"
        and match is not None
        and match.group(1) in ("item", "quantity")
        and isinstance(err.instance, dict)
        and err.instance.get("selectionType") == "SPECIAL_REQUEST"
    )


def _judge(validator: Draft4Validator, instance: Any) -> None:
    errors = [e for e in validator.iter_errors(instance) if not _exempt(e)]
    if errors:
        shown = sorted(errors, key=lambda e: list(map(str, e.absolute_path)))[:5]
        raise SpecViolation(
            "; ".join(
                f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in shown
            )
        )


def check_parameters(op: Operation, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
    """Raise SpecViolation for a missing required header or an unknown or mistyped query."""
    present = {k.lower() for k in headers}
    missing = sorted(h for h in op.headers if h not in present)
    if missing:
        raise SpecViolation(f"missing required header(s) {missing}")
    unknown = sorted(set(query) - set(op.query))
    if unknown:
        raise SpecViolation(f"unknown query parameters {unknown}")
    for name, value in query.items():
        if op.query[name] == "integer" and not re.fullmatch(r"-?\d+", value):
            raise SpecViolation(f"query parameter {name}={value!r} is not an integer")


def validate_request_body(op: Operation, body: Any) -> None:
    """Raise SpecViolation when the request body is not what the operation accepts."""
    if op.body is None:
        if body is not None:
            raise SpecViolation("this operation takes no body")
        return
    if body is None:
        if op.body_required:
            raise SpecViolation("a JSON body is required")
        return
    _judge(_validator(op.method, op.template, "body", "request"), body)


def validate_response(op: Operation, body: Any, *, unpersisted: bool = False) -> None:
    """Raise SpecViolation when the fake's own answer is not what Toast documents.

    `unpersisted`: /prices answers "without GUIDs" (nothing is persisted), although every
    entity inherits a required `guid`; such answers are judged without that requirement.
    """
    if op.response is None:
        return
    flavor = "unpersisted" if unpersisted else "response"
    _judge(_validator(op.method, op.template, "response", flavor), body)


def validate_definition(spec: str, name: str, instance: Any) -> None:
    """Raise SpecViolation when `instance` is not a `name` of that document (answers)."""
    ref = "#/components/schemas/" if spec == "extra" else "#/definitions/"
    _judge(_definition_validator(spec, ref + name), instance)


@functools.cache
def _definition_validator(spec: str, ref: str) -> Draft4Validator:
    return Draft4Validator({"$ref": ref, **_root(spec, "response")})
