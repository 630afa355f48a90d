"""Offline: after an online visit the analyser reloads and classifies with the network off (and the server
down); the verdict waits in IndexedDB and reaches the server exactly once when the connection returns."""

from __future__ import annotations

import sqlite3
import time

import pytest
from e2e_support import SHIPPED_MODEL, free_port, log_in, running_server, wait_for_results, wait_until_ready
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

SYNC_TIMEOUT_S = 60


def stored_rows(database, sha256_prefix: str = "") -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT id FROM verdicts WHERE image_sha256 LIKE ?", (sha256_prefix + "%",)
        ).fetchall()


def test_offline_reload_classify_then_sync_exactly_once(browser, tmp_path, provenance_files, c2pa_files):
    instance, port = tmp_path / "instance", free_port()
    context = browser.new_context()
    page = context.new_page()
    with running_server(instance, SHIPPED_MODEL, port) as server:
        log_in(page, server.url)
        cached = """async () => {
          const model = await caches.match('/model/model.json');
          if (!model || !(await caches.match('/'))) return false;
          const shards = (await model.json()).weightsManifest.flatMap((group) => group.paths);
          return (await Promise.all(shards.map((path) => caches.match(`/model/${path}`)))).every(Boolean);
        }"""
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while not page.evaluate(cached) and time.monotonic() < deadline:
            time.sleep(0.2)

    context.set_offline(True)
    page.reload()
    wait_until_ready(page)
    assert page.locator("#connection").is_visible()
    # The metadata reader and the C2PA validator (its WebAssembly from the cache) work offline too.
    page.set_input_files("#files", [str(provenance_files["sd"]), str(c2pa_files["signed"])])
    wait_for_results(page, 2)
    cards = page.locator(".result-card")
    assert [cards.nth(i).get_attribute("data-state") for i in range(2)] == ["queued", "queued"]
    assert page.locator(".probability").first.get_attribute("data-probability")
    assert page.locator(".verdict").first.inner_text().startswith("Declared AI-generated (Stable Diffusion web UI")
    assert cards.nth(1).locator(".provenance").get_attribute("data-provenance") == "credential_valid"

    with running_server(instance, SHIPPED_MODEL, port) as server:
        context.set_offline(False)  # the page hears 'online' and sends the waiting logs
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while len(stored_rows(server.database)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(stored_rows(server.database)) == 2
        with sqlite3.connect(server.database) as database:
            stored = sorted(row[0] for row in database.execute("SELECT provenance FROM verdicts"))
        assert stored == ["credential_valid", "declared_ai"]
        card = page.locator(".result-card").first  # the card no longer says the log is waiting
        page.locator('.result-card[data-state="saved"]').nth(1).wait_for(state="attached", timeout=5_000)
        assert card.locator(".sync-state").inner_text() == "Saved to your history."

        page.goto(f"{server.url}/history")  # another flush; the same id is not stored twice
        page.locator("body[data-ready=true]").wait_for(state="attached")
        assert page.locator("#history-table tbody tr").count() == 2
        assert page.locator(".badge.pending").count() == 0
        assert len(stored_rows(server.database)) == 2
    context.close()


def test_a_log_the_server_refuses_is_kept_shown_and_can_be_discarded(page, server, images):
    # A label with a text-direction override is refused by the server (422), not by the page.
    page.fill("#label", "case \u202e17")
    page.set_input_files("#files", str(images["photo"]))
    wait_for_results(page, 1)
    card = page.locator(".result-card").first
    assert card.get_attribute("data-state") == "refused"
    assert "Not accepted by the server" in card.locator(".sync-state").inner_text()

    page.goto(f"{server.url}/history")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    row = page.locator("#history-table tbody tr", has=page.locator(".badge.refused"))
    assert row.count() == 1
    assert "label: must not contain text-direction controls" in row.inner_text()

    row.get_by_role("button", name="Retry").first.click()
    expect(page.locator("#table-status")).to_have_text("Still not accepted; the log stays on this device.")
    assert page.locator(".badge.refused").count() == 1

    row = page.locator("#history-table tbody tr", has=page.locator(".badge.refused"))
    row.get_by_role("button", name="Discard").first.click()
    expect(page.locator(".badge.refused")).to_have_count(0)
    # Discarded from this device once the undo time is over.
    page.wait_for_function(
        "async () => (await (await import('/js/offline-queue.js')).pendingLogs('alice')).length === 0", timeout=20_000
    )
