"""The error bodies of the fake Lightspeed K-Series: Spring validation, simple, menu 503, OAuth."""

from __future__ import annotations

from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.support.lightspeed_spec import FieldError, SpecViolation

Json = dict[str, Any]

# JSON Schema keyword -> Spring constraint code. The last six are ours, for rules Lightspeed
# states only in prose: Spring would name them after the validator class we cannot see.
SPRING_CODES = {
    "required": "NotNull",
    "minLength": "Size",
    "maxLength": "Size",
    "minimum": "Min",
    "maximum": "Max",
    "type": "typeMismatch",
    "enum": "typeMismatch",
    "format": "typeMismatch",
    "const": "typeMismatch",
    "pattern": "Pattern",
    "additionalProperties": "UnknownProperty",
    "not": "SingleDiscountOverride",
    "anyOf": "CustomerReferenceWithoutEmail",
    "dependentRequired": "DiscountCodeRequired",
}
JAVA_TYPES = {
    "string": "java.lang.String",
    "integer": "java.lang.Long",
    "number": "java.lang.Double",
}


def ls_time(when: datetime | None = None) -> str:
    """A timestamp the way Lightspeed's examples write it: milliseconds and a ``+0000`` offset."""
    when = when or datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def simple_error(status: int, message: str, path: str) -> web.Response:
    """``{timestamp, status, error, message, path}`` (Spring Boot's default error body)."""
    body = {
        "timestamp": ls_time(),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "path": path,
    }
    return web.json_response(body, status=status)


def menu_unavailable(message: str = "Menu service temporarily unavailable") -> web.Response:
    """The menu-load 503, whose ``status`` is a string."""
    body = {"status": "503", "timestamp": ls_time(), "message": message, "apiSubExceptions": []}
    return web.json_response(body, status=503)


def oauth_error(status: int, error: str, description: str) -> web.Response:
    """An RFC 6749 §5.2 error body."""
    return web.json_response({"error": error, "error_description": description}, status=status)


def invalid_token(description: str) -> web.Response:
    """401 for a missing, unknown or expired access token (our judgment: Spring Security's form)."""
    return web.json_response(
        {"error": "invalid_token", "error_description": description},
        status=401,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


def _message(err: FieldError, code: str) -> str:
    schema = err.schema if isinstance(err.schema, dict) else {}
    if code == "NotNull":
        return "must not be null"
    if code == "Size":
        return (
            f"size must be between {schema.get('minLength', 0)} and "
            f"{schema.get('maxLength', 2147483647)}"
        )
    if code == "Min":
        return f"must be greater than or equal to {err.limit}"
    if code == "Max":
        return f"must be less than or equal to {err.limit}"
    return {
        "Pattern": f'must match "{err.limit}"',
        "UnknownProperty": "unknown property",
        "SingleDiscountOverride": (
            "only one of discountAmountOverride or discountPercentOverride can be set"
        ),
        "CustomerReferenceWithoutEmail": "thirdPartyReference must be empty when email is empty",
        "DiscountCodeRequired": "a discount override must come with a manual discountCode",
        "Future": "must be a future date",
        "EndpointNotFound": f"endpoint ID not found for {err.value}",
        "Unique": "must be unique",
    }.get(code, f"invalid value: {err.message}")


def spring_entry(object_name: str, err: FieldError, code: str | None = None) -> Json:
    """One ``errors[]`` entry of Spring's validation error."""
    code = code or SPRING_CODES.get(err.rule, "Invalid")
    schema = err.schema if isinstance(err.schema, dict) else {}
    java = JAVA_TYPES.get(str(schema.get("type")), "java.lang.Object")
    field = err.field
    generic = "".join(c for c in field if not c.isdigit()).replace("[]", "")
    leaf = field.rsplit(".", 1)[-1].split("[", 1)[0]
    codes = [f"{code}.{object_name}.{field}", f"{code}.{field}"]
    codes += [c for c in (f"{code}.{generic}", f"{code}.{leaf}") if c not in codes]
    codes += [f"{code}.{java}", code]
    entry: Json = {
        "codes": codes,
        "arguments": [
            {"codes": [f"{object_name}.{field}", field], "defaultMessage": field, "code": field}
        ],
        "defaultMessage": _message(err, code),
        "objectName": object_name,
        "field": field,
        "bindingFailure": code == "typeMismatch",
        "code": code,
    }
    if err.value is not None and not isinstance(err.value, dict | list):
        entry["rejectedValue"] = err.value
    return entry


def spring_error(object_name: str, path: str, entries: list[Json]) -> web.Response:
    """Spring's 400 ``Validation failed for object='…'. Error count: N``."""
    body = {
        "timestamp": ls_time(),
        "status": 400,
        "error": "Bad Request",
        "message": f"Validation failed for object='{object_name}'. Error count: {len(entries)}",
        "errors": entries,
        "path": path,
    }
    return web.json_response(body, status=400)


def refusal(path: str, err: SpecViolation, order_object: str | None) -> web.Response:
    """The vendor's 400 for a request our document rejects (the fake records it as a violation)."""
    if path == "/oauth/token":
        return oauth_error(400, "invalid_request", str(err)[:200])
    if err.missing_parameter is not None:
        java = "Long" if err.missing_parameter == "businessLocationId" else "String"
        message = (
            f"Required request parameter '{err.missing_parameter}' for method parameter "
            f"type {java} is not present"
        )
        return simple_error(400, message, path)
    if order_object is not None and err.errors:
        entries = [spring_entry(order_object, e) for e in err.errors]
        return spring_error(order_object, path, entries)
    first = err.errors[0] if err.errors else None
    message = f"{first.field}: {first.message}" if first else str(err)[:300]
    return simple_error(400, message, path)


def injected(status: int, path: str, retry_after: str | None = None) -> web.Response:
    """An injected HTTP fault, in the shape that endpoint has (menu 503, OAuth, or simple)."""
    if status == 503 and path.startswith("/o/op/2/menu/load/"):
        response = menu_unavailable()
    elif path == "/oauth/token":
        response = oauth_error(status, "temporarily_unavailable", "injected fault")
    else:
        response = simple_error(status, "injected fault", path)
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response
