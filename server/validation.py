"""Strict JSON request bodies: the primitives the API's endpoints validate with."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from quart import request

from unmask.server.errors import ApiError

# Where JSON can smuggle in half of a UTF-16 pair: a \uD800-\uDFFF escape (raw UTF-8 cannot encode one).
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


async def read_json_object(required: Iterable[str], optional: Iterable[str] = ()) -> dict[str, Any]:
    """The request's JSON object, refusing non-JSON (415), bad JSON (400), missing or unknown fields (422)."""
    if request.mimetype != "application/json":
        raise ApiError(415, "the body must be JSON (Content-Type: application/json)")
    raw = await request.get_data()  # over MAX_CONTENT_LENGTH this raises 413
    try:
        # Strict UTF-8 as RFC 8259 says: json.loads would also take UTF-16 and encoded lone surrogates.
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed JSON: the body must be UTF-8 text") from None
    try:
        body = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed JSON") from None
    if SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(body):
        # JSON may escape half of a UTF-16 pair ("\ud800"), which is no character: no text may hold one.
        raise ApiError(400, "malformed JSON: text with an unpaired \\u surrogate escape")
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object")
    required = tuple(required)
    known = {*required, *optional}
    for name in body:
        if name not in known:
            raise ApiError(422, "unknown field", name[:64])
    for name in required:
        if name not in body:
            raise ApiError(422, "field is required", name)
    return body


def _has_lone_surrogate(body: Any) -> bool:
    # An explicit stack, not recursion: a body may nest as deep as the JSON parser allows.
    pending = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(422, "must be a string", name)
    return value


def boolean(body: dict[str, Any], name: str, default: bool | None = None) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ApiError(422, "must be true or false", name)
    return value


def integer(value: Any, name: str, low: int, high: int) -> int:
    # bool is an int subclass in Python, but `true` is not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, "must be an integer", name)
    if not low <= value <= high:
        raise ApiError(422, f"must be between {low} and {high}", name)
    return value


def number(value: Any, name: str, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(422, "must be a finite number", name)
    try:
        value = float(value)  # a JSON integer may have hundreds of digits
    except OverflowError:
        raise ApiError(422, "must be a finite number", name) from None
    if not math.isfinite(value):
        raise ApiError(422, "must be a finite number", name)
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ApiError(422, f"must be {bounds}", name)
    return value
