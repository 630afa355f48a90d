"""Verdict logs: validation, idempotency, history, deletion, export and isolation between users."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from server_support import AuthActions, verdict

from unmask.contract import POLICY
from unmask.server.security import RateLimit

VIDEO = {"frames": 120, "duration_s": 4.0, "mean_probability": 0.4, "max_probability": 0.9, "share_flagged": 0.25}


@pytest.fixture
async def alice(auth: AuthActions) -> AuthActions:
    await auth.register("alice")
    return auth


@pytest.fixture
async def bob(app: Quart) -> AuthActions:
    actions = AuthActions(app.test_client())
    await actions.register("bob")
    return actions


async def post(actions: AuthActions, body: Any) -> Any:
    return await actions.send("POST", "/api/verdicts", body)


async def error(response: Any) -> dict[str, Any]:
    return await response.get_json()


async def history(actions: AuthActions, query: str = "") -> dict[str, Any]:
    response = await actions.client.get(f"/api/verdicts{query}")
    assert response.status_code == 200
    return await response.get_json()


async def test_create_returns_stored_row(alice: AuthActions) -> None:
    body = verdict()
    response = await post(alice, body)
    assert response.status_code == 201
    stored = await response.get_json()
    assert stored["id"] == body["id"] and stored["probability"] == 0.83 and stored["video"] is None
    assert stored["analysed_at"] == "2024-06-01T12:00:00.000000Z"
    assert stored["received_at"].endswith("Z")


async def test_faces_judged_are_stored(alice: AuthActions) -> None:
    response = await post(alice, verdict(faces=3))
    assert response.status_code == 201
    assert (await response.get_json())["faces"] == 3
    assert (await history(alice))["items"][0]["faces"] == 3


async def test_a_log_without_faces_from_an_older_page_is_kept_as_unknown(alice: AuthActions) -> None:
    response = await post(alice, verdict())
    assert response.status_code == 201
    assert (await response.get_json())["faces"] is None


async def test_a_picture_judged_whole_logs_zero_faces(alice: AuthActions) -> None:
    response = await post(alice, verdict(faces=0))
    assert (await response.get_json())["faces"] == 0


async def test_create_video_summary(alice: AuthActions) -> None:
    response = await post(alice, verdict(kind="video", video=VIDEO))
    assert response.status_code == 201
    assert (await response.get_json())["video"] == VIDEO


async def test_create_requires_login(client: Any, auth: AuthActions) -> None:
    response = await post(auth, verdict())
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "login required"


async def test_retry_with_same_content_is_idempotent(app: Quart, alice: AuthActions) -> None:
    body = verdict()
    first = await post(alice, body)
    retry = await post(alice, body)
    assert retry.status_code == 200
    assert await retry.get_json() == await first.get_json()
    assert (await history(alice))["total"] == 1


async def test_retry_with_other_timezone_spelling_is_idempotent(alice: AuthActions) -> None:
    body = verdict(analysed_at="2024-06-01T12:00:00Z")
    await post(alice, body)
    assert (await post(alice, {**body, "analysed_at": "2024-06-01T14:00:00+02:00"})).status_code == 200


async def test_same_id_with_other_content_conflicts(alice: AuthActions) -> None:
    body = verdict()
    await post(alice, body)
    response = await post(alice, {**body, "label": "changed"})
    assert response.status_code == 409
    assert (await error(response))["field"] == "id"


async def test_id_of_another_user_conflicts_without_touching_it(alice: AuthActions, bob: AuthActions) -> None:
    body = verdict()
    await post(alice, body)
    assert (await post(bob, body)).status_code == 409
    assert (await history(alice))["items"][0]["label"] == "press photo"


INVALID = [
    ("id", "not-a-uuid"),
    ("id", "{" + str(uuid.uuid4()) + "}"),
    ("id", 12),
    ("id", str(uuid.uuid4()).upper()),
    ("image_sha256", "ABCDEF" + "0" * 58),
    ("image_sha256", "0" * 63),
    ("width", 0),
    ("width", 100_001),
    ("width", 12.5),
    ("width", True),
    ("width", "1024"),
    ("height", -1),
    ("probability", 1.5),
    ("probability", -0.1),
    ("probability", "0.5"),
    ("probability", None),
    ("verdict", "fake"),
    ("uncertain", "no"),
    ("uncertain", 0),
    ("model_version", ""),
    ("model_version", "v1 beta"),
    ("model_version", "x" * 65),
    ("backend", ""),
    ("backend", "x" * 33),
    ("inference_ms", -1),
    ("inference_ms", 600_001),
    ("analysed_at", "2024-06-01T12:00:00"),
    ("analysed_at", "yesterday"),
    ("analysed_at", "2024-W22-6T12:00:00Z"),
    ("analysed_at", "2024-06-01T12:00:00+23:59:59.999999"),
    ("analysed_at", (datetime.now(UTC) + timedelta(days=2)).isoformat()),
    ("kind", "audio"),
    ("label", "x" * 201),
    ("label", 5),
    ("label", "line\nbreak"),
    ("label", "c1 control \x85"),
    ("file_name", "invoice\u202efdp.exe"),
    ("label", "\u200b\u200b"),
    ("label", "   "),
    ("label", "\u3164\u2800\u0301"),
    ("file_name", "x" * 256),
    ("video", VIDEO),
    ("faces", -1),
    ("faces", 1.5),
    ("faces", "3"),
    ("faces", True),
    ("faces", 10_001),
    ("provenance", "ai"),
    ("provenance", "Camera"),
    ("provenance", 1),
]


@pytest.mark.parametrize(("field", "value"), INVALID)
async def test_invalid_field_is_refused(alice: AuthActions, field: str, value: Any) -> None:
    body = verdict(**{field: value}) if value is not None else {k: v for k, v in verdict().items() if k != field}
    response = await post(alice, body)
    assert response.status_code == 422
    assert (await error(response))["field"] == field


async def test_verdict_must_match_probability(alice: AuthActions) -> None:
    response = await post(alice, verdict(probability=0.2, verdict="deepfake"))
    assert response.status_code == 422
    assert (await error(response))["field"] == "verdict"


def serve_card(web_root: Path, threshold: Any) -> None:
    card = web_root / "model" / "metadata.json"
    card.write_text(json.dumps({**POLICY.card_fields(), "threshold": threshold}))
    os.utime(card, ns=(time.time_ns(), time.time_ns()))  # a new file, even within the clock's resolution


async def test_verdicts_are_checked_against_the_served_model_card(alice: AuthActions, web_root: Path) -> None:
    serve_card(web_root, 0.7)
    assert (await post(alice, verdict(probability=0.6, verdict="real"))).status_code == 201
    refused = await post(alice, verdict(probability=0.6, verdict="deepfake"))
    assert refused.status_code == 422
    assert "probability >= 0.7" in (await error(refused))["error"]


async def test_a_newly_deployed_card_applies_at_once(alice: AuthActions, web_root: Path) -> None:
    serve_card(web_root, 0.7)
    assert (await post(alice, verdict(probability=0.6, verdict="real"))).status_code == 201
    serve_card(web_root, 0.55)
    assert (await post(alice, verdict(probability=0.6, verdict="real"))).status_code == 422


async def test_uncertain_must_match_the_served_band(alice: AuthActions) -> None:
    low, high = POLICY.uncertain_band
    response = await post(alice, verdict(probability=(low + high) / 2, uncertain=False))
    assert response.status_code == 422
    assert await error(response) == {
        "error": f"must be true exactly when {low:g} <= probability < {high:g}",
        "field": "uncertain",
    }


@pytest.mark.parametrize(
    "card",
    [
        None,
        "not json",
        '{"threshold": "0.5"}',
        '{"threshold": 1.5}',
        json.dumps({**POLICY.card_fields(), "video_flagged_percent": None}),
    ],
)
async def test_without_a_readable_card_no_verdict_is_accepted(alice: AuthActions, web_root: Path, card) -> None:
    path = web_root / "model" / "metadata.json"
    if card is None:
        path.unlink()
    else:
        path.write_text(card)
    response = await post(alice, verdict())
    assert response.status_code == 503
    assert "model card" in (await error(response))["error"]


async def test_threshold_probability_is_deepfake(alice: AuthActions) -> None:
    assert (await post(alice, verdict(probability=0.5, verdict="deepfake"))).status_code == 201


async def test_unknown_field_is_refused(alice: AuthActions) -> None:
    response = await post(alice, verdict(user_id=2))
    assert response.status_code == 422
    assert await error(response) == {"error": "unknown field", "field": "user_id"}


async def test_video_kind_requires_video_object(alice: AuthActions) -> None:
    response = await post(alice, verdict(kind="video"))
    assert response.status_code == 422
    assert (await error(response))["field"] == "video"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"frames": 0}, "video.frames"),
        ({"share_flagged": 2}, "video.share_flagged"),
        ({"duration_s": -1}, "video.duration_s"),
        ({"duration_s": 1e308}, "video.duration_s"),
        ({"duration_s": 10**400}, "video.duration_s"),
        ({"max_probability": 0.3}, "video.max_probability"),
        ({"extra": 1}, "video.extra"),
    ],
)
async def test_invalid_video_summary_is_refused(alice: AuthActions, change: dict[str, Any], field: str) -> None:
    response = await post(alice, verdict(kind="video", video={**VIDEO, **change}))
    assert response.status_code == 422
    assert (await error(response))["field"] == field


@pytest.mark.parametrize(
    "payload",
    [
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
        "A" * 150,
        "/9j/4AAQSkZJRgABAQEASABIAAD",
    ],
)
async def test_image_data_is_refused(alice: AuthActions, payload: str) -> None:
    response = await post(alice, verdict(label=payload[:200]))
    assert response.status_code == 422
    assert "image data" in (await error(response))["error"]


async def test_malformed_json_is_400(alice: AuthActions) -> None:
    response = await alice.send(
        "POST", "/api/verdicts", None, data=b'{"id": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert await error(response) == {"error": "malformed JSON", "field": None}


async def test_lone_surrogate_is_malformed_json(alice: AuthActions) -> None:
    raw = json.dumps(verdict(label="x")).replace('"label": "x"', '"label": "\\ud800"').encode()
    response = await alice.send("POST", "/api/verdicts", None, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "surrogate" in (await error(response))["error"]


async def test_nan_is_malformed_json(alice: AuthActions) -> None:
    raw = json.dumps(verdict()).replace("0.83", "NaN").encode()
    response = await alice.send("POST", "/api/verdicts", None, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


async def test_non_object_body_is_422(alice: AuthActions) -> None:
    assert (await post(alice, [verdict()])).status_code == 422


async def test_non_json_content_type_is_415(alice: AuthActions) -> None:
    response = await alice.send("POST", "/api/verdicts", None, form={"id": "x"})
    assert response.status_code == 415


async def test_oversized_body_is_413(alice: AuthActions) -> None:
    response = await post(alice, verdict(label="x" * 9000))
    assert response.status_code == 413
    assert (await error(response))["error"]


async def test_sql_injection_strings_are_inert(app: Quart, alice: AuthActions) -> None:
    attack = "x'); DROP TABLE verdicts; --"
    for field in ("label", "file_name", "backend"):
        assert (await post(alice, verdict(**{field: attack}))).status_code == 201
    for field in ("id", "image_sha256", "model_version", "verdict", "kind", "analysed_at"):
        assert (await post(alice, verdict(**{field: attack}))).status_code == 422
    for query in (f"?verdict={attack}", f"?since={attack}", f"?page={attack}", f"?kind={attack}"):
        assert (await alice.client.get(f"/api/verdicts{query}")).status_code == 422
    assert (await alice.send("DELETE", "/api/verdicts/1' OR '1'='1")).status_code == 404
    assert (await alice.login(username="alice' --", password="whatever12345")).status_code == 401
    stored = await history(alice)
    assert stored["total"] == 3 and stored["items"][0]["label"] in (attack, "press photo")
    assert (await app.extensions["unmask.db"].fetch_one("SELECT count(*) FROM verdicts"))[0] == 3


async def test_history_newest_first_and_paginated(alice: AuthActions) -> None:
    for day in range(1, 6):
        await post(alice, verdict(analysed_at=f"2024-06-0{day}T00:00:00Z"))
    page = await history(alice, "?page=2&per_page=2")
    assert page["total"] == 5 and page["page"] == 2 and page["per_page"] == 2
    assert [item["analysed_at"][:10] for item in page["items"]] == ["2024-06-03", "2024-06-02"]


async def test_history_filters(alice: AuthActions) -> None:
    await post(alice, verdict(probability=0.1, verdict="real", analysed_at="2024-01-01T00:00:00Z"))
    await post(alice, verdict(analysed_at="2024-02-01T00:00:00Z"))
    await post(alice, verdict(kind="video", video=VIDEO, analysed_at="2024-03-01T00:00:00Z"))
    assert (await history(alice, "?verdict=real"))["total"] == 1
    assert (await history(alice, "?kind=video"))["total"] == 1
    window = await history(alice, "?since=2024-01-15T00:00:00Z&until=2024-03-01T00:00:00Z")
    assert [item["analysed_at"][:7] for item in window["items"]] == ["2024-02"]


async def test_provenance_is_stored_and_optional(alice: AuthActions) -> None:
    declared = await post(alice, verdict(provenance="declared_ai", analysed_at="2024-01-01T00:00:00Z"))
    assert declared.status_code == 201 and (await declared.get_json())["provenance"] == "declared_ai"
    # A log queued offline by a page older than the field is still accepted: its provenance is unknown.
    older = await post(alice, verdict(analysed_at="2024-02-01T00:00:00Z"))
    assert older.status_code == 201 and (await older.get_json())["provenance"] is None
    await post(alice, verdict(provenance="camera", analysed_at="2024-03-01T00:00:00Z"))
    assert [item["provenance"] for item in (await history(alice))["items"]] == ["camera", None, "declared_ai"]
    assert [item["analysed_at"][:7] for item in (await history(alice, "?provenance=declared_ai"))["items"]] == [
        "2024-01"
    ]
    assert [item["analysed_at"][:7] for item in (await history(alice, "?provenance=unknown"))["items"]] == ["2024-02"]


async def test_a_retry_with_another_provenance_conflicts(alice: AuthActions) -> None:
    body = verdict(provenance="camera")
    assert (await post(alice, body)).status_code == 201
    response = await post(alice, {**body, "provenance": "edited"})
    assert response.status_code == 409


async def test_history_rejects_an_unknown_provenance_filter(alice: AuthActions) -> None:
    response = await alice.client.get("/api/verdicts?provenance=forged")
    assert response.status_code == 422 and (await error(response))["field"] == "provenance"


async def test_export_carries_provenance(alice: AuthActions) -> None:
    await post(alice, verdict(provenance="edited"))
    await post(alice, verdict())
    response = await alice.client.get("/api/verdicts/export?format=csv&provenance=edited")
    rows = list(csv.DictReader(io.StringIO((await response.get_data()).decode())))
    assert [row["provenance"] for row in rows] == ["edited"]
    exported = await (await alice.client.get("/api/verdicts/export?format=json")).get_json()
    assert sorted(str(item["provenance"]) for item in exported["items"]) == ["None", "edited"]


async def test_history_and_export_filter_uncertain_logs(alice: AuthActions) -> None:
    await post(alice, verdict(probability=0.4, verdict="real", uncertain=True))
    await post(alice, verdict())
    assert [item["probability"] for item in (await history(alice, "?uncertain=true"))["items"]] == [0.4]
    exported = await (await alice.client.get("/api/verdicts/export?format=json&uncertain=false")).get_json()
    assert [item["probability"] for item in exported["items"]] == [0.83]
    assert (await alice.client.get("/api/verdicts?uncertain=maybe")).status_code == 422


async def test_history_finds_the_earlier_checks_of_one_file(alice: AuthActions) -> None:
    await post(alice, verdict(image_sha256="ab" * 32))
    await post(alice, verdict())
    found = await history(alice, f"?image_sha256={'ab' * 32}")
    assert [item["image_sha256"] for item in found["items"]] == ["ab" * 32]
    assert (await alice.client.get("/api/verdicts?image_sha256=AB")).status_code == 422


async def test_history_rejects_bad_paging(alice: AuthActions) -> None:
    for query in ("?page=0", "?page=%C2%B2", "?per_page=201", "?per_page=-1", "?since=2024-01-01"):
        assert (await alice.client.get(f"/api/verdicts{query}")).status_code == 422, query


async def test_users_only_see_their_own_logs(alice: AuthActions, bob: AuthActions) -> None:
    await post(alice, verdict())
    assert (await history(bob))["total"] == 0
    assert (await history(alice))["total"] == 1


async def test_user_cannot_delete_anothers_log(alice: AuthActions, bob: AuthActions) -> None:
    body = verdict()
    await post(alice, body)
    response = await bob.send("DELETE", f"/api/verdicts/{body['id']}")
    assert response.status_code == 404
    assert (await history(alice))["total"] == 1


async def test_delete_all_leaves_other_users_logs(alice: AuthActions, bob: AuthActions) -> None:
    await post(alice, verdict())
    await post(bob, verdict())
    assert await (await bob.send("DELETE", "/api/verdicts")).get_json() == {"deleted": 1}
    assert (await history(alice))["total"] == 1


async def test_export_of_another_user_is_empty(alice: AuthActions, bob: AuthActions) -> None:
    await post(alice, verdict())
    response = await bob.client.get("/api/verdicts/export?format=json")
    assert (await response.get_json())["items"] == []


async def test_delete_one(alice: AuthActions) -> None:
    body = verdict()
    await post(alice, body)
    assert (await alice.send("DELETE", f"/api/verdicts/{body['id']}")).status_code == 200
    assert (await history(alice))["total"] == 0


async def test_export_json_attachment(alice: AuthActions) -> None:
    body = verdict()
    await post(alice, body)
    response = await alice.client.get("/api/verdicts/export?format=json")
    assert response.headers["Content-Disposition"] == 'attachment; filename="unmask-verdicts.json"'
    assert [item["id"] for item in (await response.get_json())["items"]] == [body["id"]]


async def test_export_csv_keeps_formulas_as_text(alice: AuthActions) -> None:
    await post(alice, verdict(label="=HYPERLINK(1)"))
    response = await alice.client.get("/api/verdicts/export?format=csv")
    assert response.mimetype == "text/csv"
    assert 'filename="unmask-verdicts.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO((await response.get_data()).decode())))
    assert rows[0]["label"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize("label", [" =1+1", "\uff1dSUM(A1)", "@cmd", "\ufeff\u200b=1+1"])
async def test_export_csv_keeps_disguised_formulas_as_text(alice: AuthActions, label: str) -> None:
    await post(alice, verdict(label=label))
    response = await alice.client.get("/api/verdicts/export?format=csv")
    rows = list(csv.DictReader(io.StringIO((await response.get_data()).decode())))
    assert rows[0]["label"] == "'" + label


async def test_export_rejects_unknown_format(alice: AuthActions) -> None:
    assert (await alice.client.get("/api/verdicts/export?format=xml")).status_code == 422


async def test_page_past_the_end_still_counts(alice: AuthActions) -> None:
    await post(alice, verdict())
    page = await history(alice, "?page=3")
    assert page["items"] == [] and page["total"] == 1


async def test_concurrent_retries_store_one_row(alice: AuthActions) -> None:
    # The browser's offline queue may resend while the first attempt is still in flight.
    body = verdict()
    responses = await asyncio.gather(*[post(alice, body) for _ in range(5)])
    assert sorted(response.status_code for response in responses) == [200, 200, 200, 200, 201]
    assert (await history(alice))["total"] == 1


async def test_concurrent_posts_are_all_stored(alice: AuthActions, bob: AuthActions) -> None:
    bodies = [verdict() for _ in range(30)]
    responses = await asyncio.gather(*[post(alice if n % 2 else bob, body) for n, body in enumerate(bodies)])
    assert {response.status_code for response in responses} == {201}
    assert (await history(alice))["total"] == (await history(bob))["total"] == 15


async def store_directly(
    app: Quart, username: str, count: int, analysed_at: str = "2024-06-01T12:00:00.000000Z"
) -> None:
    """`count` logs of `username` written straight into the database (all at one time: keyset ties)."""
    database = app.extensions["unmask.db"]
    user_id = (await database.fetch_one("SELECT id FROM users WHERE username = ?", (username,)))[0]
    await database.write(
        "INSERT INTO verdicts (id, user_id, image_sha256, width, height, probability, verdict, uncertain,"
        " model_version, backend, inference_ms, analysed_at, kind, received_at) VALUES "
        + ", ".join(["(?, ?, ?, 1, 1, 0.1, 'real', 0, 'm', 'wasm', 1.0, ?, 'image', ?)"] * count),
        [value for _ in range(count) for value in (str(uuid.uuid4()), user_id, "ab" * 32, analysed_at, analysed_at)],
    )


async def test_stored_logs_per_account_are_limited(config: dict[str, Any], app: Quart, alice: AuthActions) -> None:
    app.config["MAX_VERDICTS_PER_ACCOUNT"] = 2
    first, second = verdict(), verdict()
    assert [(await post(alice, body)).status_code for body in (first, second)] == [201, 201]
    refused = await post(alice, verdict())
    assert refused.status_code == 413 and "most verdict logs allowed (2)" in (await error(refused))["error"]
    assert (await post(alice, first)).status_code == 200  # a retry is still acknowledged
    await alice.send("DELETE", f"/api/verdicts/{first['id']}")
    assert (await post(alice, verdict())).status_code == 201


async def test_posts_per_minute_are_limited(
    config: dict[str, Any], app: Quart, alice: AuthActions, bob: AuthActions
) -> None:
    app.extensions["unmask.post_rate"] = RateLimit("verdict posts", 3)
    statuses = [(await post(alice, verdict())).status_code for _ in range(4)]
    refused = await post(alice, verdict())
    assert statuses == [201, 201, 201, 429]
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert (await post(bob, verdict())).status_code == 201  # another account has its own allowance


@pytest.mark.sqlite_only  # watches the statements SQLite's readers run
async def test_a_history_page_does_not_count_the_whole_history(app: Quart, alice: AuthActions) -> None:
    await store_directly(app, "alice", 300)
    statements: list[str] = []
    for reader in app.extensions["unmask.db"]._readers:
        await reader.set_trace_callback(statements.append)
    answer = await (await alice.client.get("/api/verdicts?per_page=1")).get_json()
    assert len(answer["items"]) == 1 and answer["total"] == 300 and answer["total_capped"] is False
    assert not [sql for sql in statements if "count(" in sql.lower()]


async def test_a_filtered_total_is_capped(app: Quart, alice: AuthActions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("unmask.server.verdicts.MAX_COUNTED", 10)
    await store_directly(app, "alice", 30)
    answer = await (await alice.client.get("/api/verdicts?per_page=5&verdict=real")).get_json()
    assert (answer["total"], answer["total_capped"]) == (10, True)


async def test_history_pages_end_at_the_offset_limit(alice: AuthActions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("unmask.server.verdicts.MAX_HISTORY_OFFSET", 100)
    response = await alice.client.get("/api/verdicts?per_page=50&page=3")
    assert response.status_code == 422 and (await error(response))["field"] == "page"


@pytest.mark.parametrize("export_format", ["json", "csv"])
async def test_an_export_in_chunks_holds_every_log_once(
    app: Quart, alice: AuthActions, monkeypatch: pytest.MonkeyPatch, export_format: str
) -> None:
    monkeypatch.setattr("unmask.server.verdicts.EXPORT_CHUNK", 7)
    await store_directly(app, "alice", 30)  # one time for all: the chunks continue by id
    await store_directly(app, "alice", 5, "2024-06-02T12:00:00.000000Z")
    response = await alice.client.get(f"/api/verdicts/export?format={export_format}")
    text = (await response.get_data()).decode()
    if export_format == "json":
        ids = [item["id"] for item in json.loads(text)["items"]]
    else:
        ids = [row["id"] for row in csv.DictReader(io.StringIO(text))]
    assert len(ids) == len(set(ids)) == 35


@pytest.mark.sqlite_only  # SQLite's readers: PostgreSQL's pool serves each read on a connection of its own
async def test_reads_do_not_wait_behind_a_slow_one(app: Quart) -> None:
    database = app.extensions["unmask.db"]
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_release() -> int:  # runs in the reader's thread, holding that reader
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
        return 1

    for reader in database._readers:
        await reader.create_function("wait_for_release", 0, wait_for_release)
    slow = asyncio.create_task(database.fetch_one("SELECT wait_for_release()"))
    await asyncio.sleep(0.05)
    try:
        assert (await asyncio.wait_for(database.fetch_one("SELECT 1"), timeout=5))[0] == 1
    finally:
        release.set()
        await slow
