"""Verdict logs: strict validation, idempotent create, paginated history, deletion and export."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Blueprint, Response, current_app, jsonify, request
from quart_auth import login_required

from unmask.contract import (
    KINDS,
    LOG_FIELD,
    LOG_FIELDS,
    MODEL_VERSION_PATTERN,
    PROVENANCES,
    SHA256_PATTERN,
    TIMESTAMP_PATTERN,
    VERDICTS,
    VIDEO_FIELD,
    VIDEO_FIELDS,
    LogField,
)
from unmask.server.auth import current_account
from unmask.server.db import Database, IntegrityError, Row, format_time, get_db, utc_now
from unmask.server.errors import ApiError
from unmask.server.model_card import verdict_policy
from unmask.server.security import get_post_rate
from unmask.server.validation import boolean, integer, number, read_json_object

blueprint = Blueprint("verdicts", __name__, url_prefix="/api/verdicts")

MEAN_ROUNDING_TOLERANCE = 1e-9
MAX_FUTURE = timedelta(days=1)
MAX_PER_PAGE = 200
# The history pages reach this far back (older logs: filter with until); a filtered total counts this far.
MAX_HISTORY_OFFSET = 10_000
MAX_COUNTED = 10_000
EXPORT_CHUNK = 500
# The history filter's word for logs posted without `provenance` (by a page older than the field): NULL.
UNKNOWN_PROVENANCE = "unknown"

SHA256 = re.compile(SHA256_PATTERN)
TIMESTAMP = re.compile(TIMESTAMP_PATTERN, re.ASCII)
TIMESTAMP_PROBLEM = "must be an ISO 8601 time with a time zone, like 2026-01-31T12:00:00Z"
# Unicode's control characters (category Cc): C0, DEL and C1.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
# Embedding, override and isolate controls can make a stored name display as another ("Trojan Source").
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
VISIBLE_ASCII = re.compile("[!-~]")
INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Zs", "Zl", "Zp"})
# Letters and symbols that render as nothing: Hangul fillers and the blank Braille pattern.
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
MODEL_VERSION = re.compile(MODEL_VERSION_PATTERN)
# Image bytes in text: a data: URL, a long base64 run, or the base64 form of an image file signature.
# A guard against mistakes, not against a hostile client (other encodings pass): see API.md.
IMAGE_DATA_PATTERN = re.compile(
    r"(?i:\bdata:[a-z]+/[a-z0-9.+-]+[;,])|[A-Za-z0-9+/_-]{100,}|/9j/4|iVBORw0KGgo|R0lGOD[dl]h|UklGR"
)
REQUIRED_FIELDS = tuple(field.name for field in LOG_FIELDS if field.required)
# Optional so that logs queued offline by an older page are still accepted.
OPTIONAL_FIELDS = (*(field.name for field in LOG_FIELDS if not field.required), VIDEO_FIELD)
# The stored columns a verdict's content is made of (what an idempotent retry must repeat).
CONTENT_COLUMNS = (*(field.name for field in LOG_FIELDS), *(f"video_{field.name}" for field in VIDEO_FIELDS))
EXPORT_COLUMNS = (*CONTENT_COLUMNS, "received_at")
FORMULA_SIGNS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")


def text(value: Any, name: str, max_length: int, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str):
        raise ApiError(422, "must be a string", name)
    if not 1 <= len(value) <= max_length:
        raise ApiError(422, f"must be 1 to {max_length} characters", name)
    if pattern is not None and not pattern.fullmatch(value):
        raise ApiError(422, "has characters that are not allowed", name)
    if IMAGE_DATA_PATTERN.search(value):
        raise ApiError(422, "looks like image data, which is never sent to the server", name)
    if CONTROL_CHARACTERS.search(value):
        raise ApiError(422, "must not contain control characters", name)
    if BIDI_CONTROLS.search(value):
        raise ApiError(422, "must not contain text-direction controls", name)
    if not VISIBLE_ASCII.search(value) and all(_invisible(character) for character in value):
        raise ApiError(422, "must contain visible characters", name)
    return value


def _invisible(character: str) -> bool:
    """Spaces, format characters, marks with nothing to sit on, and the blank letters (fillers)."""
    return (
        character.isspace() or unicodedata.category(character) in INVISIBLE_CATEGORIES or character in BLANK_CHARACTERS
    )


def timestamp(value: Any, name: str) -> str:
    """An RFC 3339 time (ISO 8601 with a time zone), normalised to fixed-width UTC."""
    if not isinstance(value, str) or not TIMESTAMP.fullmatch(value):
        raise ApiError(422, TIMESTAMP_PROBLEM, name)
    try:
        return format_time(datetime.fromisoformat(value))
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted out of range by the zone
        raise ApiError(422, TIMESTAMP_PROBLEM, name) from None


def one_of(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ApiError(422, f"must be one of: {', '.join(choices)}", name)
    return value


def verdict_columns(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a posted verdict; return the column values to store."""
    raw_id = text(body["id"], "id", 36)
    try:
        verdict_id = str(uuid.UUID(raw_id))
    except ValueError:
        raise ApiError(422, "must be a UUID", "id") from None
    if verdict_id != raw_id:  # only the canonical lowercase 8-4-4-4-12 form
        raise ApiError(422, "must be a UUID in lowercase 8-4-4-4-12 form", "id")
    sha256 = body["image_sha256"]
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise ApiError(422, "must be 64 lowercase hexadecimal digits", "image_sha256")
    probability = bounded(body["probability"], LOG_FIELD["probability"])
    verdict = one_of(body["verdict"], "verdict", VERDICTS)
    policy = verdict_policy()  # the served card's: the one the browser used
    if verdict != policy.verdict(probability):
        raise ApiError(422, f"must be 'deepfake' exactly when probability >= {policy.threshold:g}", "verdict")
    uncertain = boolean(body, "uncertain")
    if uncertain != policy.uncertain(probability):
        low, high = policy.uncertain_band
        raise ApiError(422, f"must be true exactly when {low:g} <= probability < {high:g}", "uncertain")
    analysed_at = timestamp(body["analysed_at"], "analysed_at")
    if analysed_at > format_time(datetime.now(UTC) + MAX_FUTURE):
        raise ApiError(422, "is more than a day in the future", "analysed_at")
    kind = one_of(body["kind"], "kind", KINDS)
    columns: dict[str, Any] = {
        "id": verdict_id,
        "image_sha256": sha256,
        "width": bounded(body["width"], LOG_FIELD["width"]),
        "height": bounded(body["height"], LOG_FIELD["height"]),
        "probability": probability,
        "verdict": verdict,
        "uncertain": int(uncertain),
        "model_version": _text_field(body["model_version"], LOG_FIELD["model_version"], MODEL_VERSION),
        "backend": _text_field(body["backend"], LOG_FIELD["backend"]),
        "inference_ms": bounded(body["inference_ms"], LOG_FIELD["inference_ms"]),
        "analysed_at": analysed_at,
        "kind": kind,
        "label": _optional_text(body, LOG_FIELD["label"]),
        "file_name": _optional_text(body, LOG_FIELD["file_name"]),
        "faces": None if body.get("faces") is None else bounded(body["faces"], LOG_FIELD["faces"]),
        "provenance": None if body.get("provenance") is None else one_of(body["provenance"], "provenance", PROVENANCES),
    }
    columns.update(_video_columns(body.get(VIDEO_FIELD), kind))
    return columns


def bounded(value: Any, field: LogField, name: str | None = None) -> int | float:
    """A number field within the contract's bounds."""
    assert field.minimum is not None and field.maximum is not None  # every number of the log is bounded
    if field.type == "integer":
        return integer(value, name or field.name, int(field.minimum), int(field.maximum))
    return number(value, name or field.name, field.minimum, field.maximum)


def _text_field(value: Any, field: LogField, pattern: re.Pattern[str] | None = None) -> str:
    assert field.max_length is not None
    return text(value, field.name, field.max_length, pattern)


def _optional_text(body: dict[str, Any], field: LogField) -> str | None:
    value = body.get(field.name)
    return None if value is None else _text_field(value, field)


def _video_columns(video: Any, kind: str) -> dict[str, Any]:
    if kind == "image":
        if video is not None:
            raise ApiError(422, "only allowed when kind is 'video'", VIDEO_FIELD)
        return {f"video_{field.name}": None for field in VIDEO_FIELDS}
    if not isinstance(video, dict):
        raise ApiError(422, "must be an object when kind is 'video'", VIDEO_FIELD)
    names = {field.name for field in VIDEO_FIELDS}
    for name in video:
        if name not in names:
            raise ApiError(422, "unknown field", f"video.{name}"[:70])
    missing = [field.name for field in VIDEO_FIELDS if field.name not in video]
    if missing:
        raise ApiError(422, "field is required", f"video.{missing[0]}")
    columns = {
        f"video_{field.name}": bounded(video[field.name], field, f"video.{field.name}") for field in VIDEO_FIELDS
    }
    # A mean computed in floating point may exceed the maximum of equal scores by a rounding step.
    if columns["video_max_probability"] < columns["video_mean_probability"] - MEAN_ROUNDING_TOLERANCE:
        raise ApiError(422, "must be at least mean_probability", "video.max_probability")
    return columns


def verdict_json(row: Mapping[str, Any] | Row) -> dict[str, Any]:
    """A stored row in the shape it was posted, plus received_at."""
    item = {name: row[name] for name in CONTENT_COLUMNS if not name.startswith("video_")}
    item["uncertain"] = bool(item["uncertain"])
    item[VIDEO_FIELD] = (
        {field.name: row[f"video_{field.name}"] for field in VIDEO_FIELDS} if row["kind"] == "video" else None
    )
    item["received_at"] = row["received_at"]
    return item


@blueprint.post("")
@login_required
async def create() -> tuple[Response, int]:
    body = await read_json_object(REQUIRED_FIELDS, OPTIONAL_FIELDS)
    columns = verdict_columns(body)
    account = await current_account()
    if retry_after := await get_post_rate().take(get_db(), account["id"]):
        raise ApiError(
            429,
            "too many verdict logs a minute from this account, try again later",
            headers={"Retry-After": str(retry_after)},
        )
    if await _stored_count(account["id"]) >= int(current_app.config["MAX_VERDICTS_PER_ACCOUNT"]):
        # A retry of a log already stored is still acknowledged; a new one does not fit.
        if (existing := await _existing(columns, account["id"])) is not None:
            return jsonify(verdict_json(existing)), 200
        raise ApiError(
            413,
            f"this account holds the most verdict logs allowed"
            f" ({current_app.config['MAX_VERDICTS_PER_ACCOUNT']}): delete old ones to add more",
        )
    stored = {**columns, "user_id": account["id"], "received_at": utc_now()}
    try:
        inserted = await get_db().group_insert("verdicts", tuple(stored), "id").insert(stored)
    except IntegrityError:  # the account was removed (by `unmask users remove`) a moment ago
        raise ApiError(401, "login required") from None
    if inserted:
        return jsonify(verdict_json(stored)), 201
    # The id exists: a retry of the same log is acknowledged again; anything else is a conflict.
    if (existing := await _existing(columns, account["id"])) is None:
        raise ApiError(409, "a different verdict log already has this id", "id")
    return jsonify(verdict_json(existing)), 200


async def _existing(columns: dict[str, Any], user_id: int) -> Row | None:
    """This account's stored log with this id when it has the same content; 409 when the content differs."""
    existing = await get_db().fetch_one("SELECT * FROM verdicts WHERE id = ? AND user_id = ?", (columns["id"], user_id))
    if existing is not None and any(existing[name] != value for name, value in columns.items()):
        raise ApiError(409, "a different verdict log already has this id", "id")
    return existing


async def _stored_count(user_id: int) -> int:
    row = await get_db().fetch_one("SELECT verdict_count FROM users WHERE id = ?", (user_id,))
    return row[0] if row is not None else 0


def _filters(user_id: int) -> tuple[str, list[Any]]:
    """The WHERE clause for the query-string filters shared by the history and the export."""
    clauses, params = ["user_id = ?"], [user_id]
    arguments = request.args
    if "verdict" in arguments:
        clauses.append("verdict = ?")
        params.append(one_of(arguments["verdict"], "verdict", VERDICTS))
    if "uncertain" in arguments:  # the history's "Uncertain" filter, so that its export matches what it shows
        clauses.append("uncertain = ?")
        params.append(int(one_of(arguments["uncertain"], "uncertain", ("true", "false")) == "true"))
    if "image_sha256" in arguments:  # earlier checks of one file ("checked before", "find this file")
        if not SHA256.fullmatch(arguments["image_sha256"]):
            raise ApiError(422, "must be 64 lowercase hexadecimal digits", "image_sha256")
        clauses.append("image_sha256 = ?")
        params.append(arguments["image_sha256"])
    if "kind" in arguments:
        clauses.append("kind = ?")
        params.append(one_of(arguments["kind"], "kind", KINDS))
    if "provenance" in arguments:
        wanted = one_of(arguments["provenance"], "provenance", (*PROVENANCES, UNKNOWN_PROVENANCE))
        if wanted == UNKNOWN_PROVENANCE:
            clauses.append("provenance IS NULL")
        else:
            clauses.append("provenance = ?")
            params.append(wanted)
    if "since" in arguments:
        clauses.append("analysed_at >= ?")
        params.append(timestamp(arguments["since"], "since"))
    if "until" in arguments:
        clauses.append("analysed_at < ?")
        params.append(timestamp(arguments["until"], "until"))
    return " AND ".join(clauses), params


def _query_integer(name: str, default: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ApiError(422, "must be a positive integer", name)
    return integer(int(raw), name, 1, high)


@blueprint.get("")
@login_required
async def history() -> Response:
    account = await current_account()
    page = _query_integer("page", 1, 10**9)
    per_page = _query_integer("per_page", 50, MAX_PER_PAGE)
    offset = (page - 1) * per_page
    if offset >= MAX_HISTORY_OFFSET:  # skipping rows costs as much as reading them
        raise ApiError(422, f"reaches past the newest {MAX_HISTORY_OFFSET} logs: narrow it with until", "page")
    where, params = _filters(account["id"])
    # Nothing filtered: the account's kept count is the total, read with the page (one round trip).
    unfiltered = len(params) == 1
    stored = ", (SELECT verdict_count FROM users WHERE id = ?) AS stored_count" if unfiltered else ""
    rows = await get_db().fetch_all(
        f"SELECT *{stored} FROM verdicts WHERE {where} ORDER BY analysed_at DESC, id DESC LIMIT ? OFFSET ?",
        (*([account["id"]] if unfiltered else []), *params, per_page, offset),
    )
    if unfiltered:
        total, capped = (rows[0]["stored_count"] if rows else await _stored_count(account["id"])), False
    else:
        total, capped = await _capped_count(where, params)
    return jsonify(
        items=[verdict_json(row) for row in rows], page=page, per_page=per_page, total=total, total_capped=capped
    )


async def _capped_count(where: str, params: list[Any]) -> tuple[int, bool]:
    """How many logs match, counting at most MAX_COUNTED of them (and saying so): never a whole long history."""
    counted = (
        await get_db().fetch_all(
            f"SELECT count(*) FROM (SELECT 1 FROM verdicts WHERE {where} LIMIT ?) AS matching",
            (*params, MAX_COUNTED + 1),
        )
    )[0][0]
    return min(counted, MAX_COUNTED), counted > MAX_COUNTED


@blueprint.delete("/<verdict_id>")
@login_required
async def delete_one(verdict_id: str) -> Response:
    account = await current_account()
    deleted = await get_db().write(
        "DELETE FROM verdicts WHERE id = ? AND user_id = ?", (verdict_id.lower(), account["id"])
    )
    if not deleted:  # also when it is someone else's: never reveal that an id exists
        raise ApiError(404, "no such verdict log")
    return jsonify(deleted=1)


@blueprint.delete("")
@login_required
async def delete_all() -> Response:
    account = await current_account()
    deleted = await get_db().write("DELETE FROM verdicts WHERE user_id = ?", (account["id"],))
    return jsonify(deleted=deleted)


@blueprint.get("/export")
@login_required
async def export() -> Response:
    account = await current_account()
    export_format = one_of(request.args.get("format", "json"), "format", ("csv", "json"))
    where, params = _filters(account["id"])
    chunks = _export_rows(get_db(), where, params)  # read after this view returns: no app context then
    body = _csv(chunks) if export_format == "csv" else _json_export(chunks)
    response = Response(body, mimetype="text/csv" if export_format == "csv" else "application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="unmask-verdicts.{export_format}"'
    return response


async def _export_rows(db: Database, where: str, params: list[Any]) -> AsyncIterator[list[Row]]:
    """The matching rows, newest first, EXPORT_CHUNK at a time: each chunk is a short read of its own
    (continuing after the last row sent), so an export of any size holds neither memory nor a reader."""
    after: tuple[str, str] | None = None
    while True:
        keyset = " AND (analysed_at, id) < (?, ?)" if after else ""
        rows = await db.fetch_all(
            f"SELECT * FROM verdicts WHERE {where}{keyset} ORDER BY analysed_at DESC, id DESC LIMIT ?",
            (*params, *(after or ()), EXPORT_CHUNK),
        )
        if rows:
            yield rows
        if len(rows) < EXPORT_CHUNK:
            return
        after = (rows[-1]["analysed_at"], rows[-1]["id"])


async def _json_export(chunks: AsyncIterator[list[Row]]) -> AsyncIterator[bytes]:
    yield f'{{"exported_at": {json.dumps(utc_now())}, "items": ['.encode()
    separator = ""
    async for rows in chunks:
        # Formatted off the event loop: a long export never holds up other requests.
        yield (separator + await asyncio.to_thread(_json_items, rows)).encode()
        separator = ", "
    yield b"]}"


def _json_items(rows: list[Row]) -> str:
    return ", ".join(json.dumps(verdict_json(row)) for row in rows)


async def _csv(chunks: AsyncIterator[list[Row]]) -> AsyncIterator[bytes]:
    yield _csv_text([EXPORT_COLUMNS]).encode()
    async for rows in chunks:
        yield (await asyncio.to_thread(_csv_rows, rows)).encode()


def _csv_rows(rows: list[Row]) -> str:
    return _csv_text([row[name] for name in EXPORT_COLUMNS] for row in rows)


def _csv_text(records: Iterable[Sequence[Any]]) -> str:
    output = io.StringIO()
    writer = csv.writer(output)
    for record in records:
        writer.writerow(_spreadsheet_safe(value) for value in record)
    return output.getvalue()


def _spreadsheet_safe(value: Any) -> Any:
    # A user's label such as "=HYPERLINK(...)" must stay text when the export is opened in a spreadsheet;
    # some spreadsheets skip leading spaces and invisible characters and read full-width signs as formula signs.
    if isinstance(value, str):
        first = next((character for character in value if not _invisible(character)), "")
        if first in FORMULA_SIGNS:
            return "'" + value
    return value
