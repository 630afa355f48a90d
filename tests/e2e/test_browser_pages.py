"""Login errors, forms that cannot leak a password before their script runs, no redirect off the site,
the engine chosen by speed, the history page (table, sort, filter, delete, charts) and the account page
(password change, account deletion)."""

from __future__ import annotations

import sqlite3
import time

import pytest
from e2e_support import PASSWORD, USERNAME, log_in, unmask_command, wait_for_results, wait_until_ready
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

UNDO_TIME_S = 8  # UNDO_MS in web/js/history.js: a deleted log can be brought back this long


def test_login_shows_clear_errors(context, server):
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.click("button[type=submit]")
    assert page.locator("#username-error").inner_text() == "Please fill this in."
    assert page.locator("#username").get_attribute("aria-invalid") == "true"
    page.fill("#username", USERNAME)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    page.locator("#form-message:not(:empty)").wait_for()
    assert page.url.endswith("/login")


def test_a_password_never_reaches_a_url_before_the_page_script_runs(browser, server):
    # Without the script the browser would submit the form itself, as a GET with the password in the
    # query string (history, server logs). The submit button stays disabled until the handler is attached.
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{server.url}/login")
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")
    page.wait_for_timeout(500)
    try:
        assert page.url == f"{server.url}/login"
        assert not [url for url in requests if PASSWORD in url]
    finally:
        context.close()


@pytest.mark.parametrize("next_path", ["/%09/evil.example/x", "https://evil.example/", "%2F.%2F%2Fevil.example%2Fx"])
def test_login_never_sends_the_user_to_another_site(context, server, next_path):
    page = context.new_page()
    page.goto(f"{server.url}/login?next={next_path}")
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
    assert page.url.startswith(f"{server.url}/")
    page.goto(f"{server.url}/login?next={next_path}")  # already logged in: sent on at once
    page.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
    assert page.url.startswith(f"{server.url}/")


def test_the_engine_is_chosen_by_speed_and_remembered(context, server):
    page = context.new_page()
    log_in(page, server.url, backend=None)
    chosen = page.evaluate("() => localStorage.getItem('unmask.backend')")
    assert chosen in {"webgpu", "webgl", "wasm", "cpu"}
    assert chosen in page.locator("#model-message").inner_text()
    page.reload()
    wait_until_ready(page)
    assert page.evaluate("() => localStorage.getItem('unmask.backend')") == chosen


def test_history_table_sorts_filters_and_deletes(page, server, images):
    with sqlite3.connect(server.database) as database:
        database.execute("DELETE FROM verdicts")
    page.set_input_files("#files", [str(images["photo"]), str(images["grey"]), str(images["alpha"])])
    wait_for_results(page, 3)
    page.goto(f"{server.url}/history")
    page.locator("body[data-ready=true]").wait_for(state="attached")
    rows = page.locator("#history-table tbody tr")
    assert rows.count() == 3
    with sqlite3.connect(server.database) as database:  # rows are told apart by their file's fingerprint
        stored = sorted(row[0][:12] for row in database.execute("SELECT image_sha256 FROM verdicts"))
    fingerprints = page.locator("#history-table .fingerprint").all_inner_texts()
    assert sorted(text.removeprefix("SHA-256 ").removesuffix("…") for text in fingerprints) == stored
    assert page.locator("#chart-time svg rect").count() >= 1
    assert page.locator("#chart-distribution svg[role=img]").count() == 1

    page.click("th[data-key=probability] button")
    assert page.locator("th[data-key=probability]").get_attribute("aria-sort") == "ascending"
    shown = [
        float(text.strip("%<>")) for text in page.locator("#history-table tbody td:nth-child(3)").all_inner_texts()
    ]
    assert shown == sorted(shown)

    # A low score is "Not detected", never "Real": the model cannot prove a picture authentic.
    assert "Real" not in page.locator("#history-table").inner_text() + page.locator("#filter-verdict").inner_text()
    counts = {"real": page.locator(".badge.real").count(), "deepfake": page.locator(".badge.deepfake").count()}
    assert all(text.startswith("Not detected") for text in page.locator(".badge.real").all_inner_texts())
    for verdict in ("real", "deepfake"):
        page.select_option("#filter-verdict", verdict)
        assert rows.count() == counts[verdict]
    page.select_option("#filter-verdict", "")

    rows.first.get_by_role("button", name="Delete").click()
    page.locator("#history-table tbody tr").nth(2).wait_for(state="detached")
    deadline = time.monotonic() + UNDO_TIME_S + 10  # deleted on the server once the undo time is over
    while stored_count(server.database) != 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stored_count(server.database) == 2


def stored_count(database_path) -> int:
    with sqlite3.connect(database_path) as database:
        return database.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]


def test_account_password_change_and_deletion(context, server):
    unmask_command("users", "add", "bob", "--instance", str(server.instance), input=PASSWORD + "\n")
    page = context.new_page()
    log_in(page, server.url, path="/account", username="bob")
    expect(page.locator("#username")).to_have_text("bob")

    page.fill("#current_password", PASSWORD)
    page.fill("#new_password", "a brand new secret")
    page.fill("#new_password_repeat", "a different one")
    page.click("#password-form button[type=submit]")
    assert page.locator("#new_password_repeat-error").inner_text() == "The two passwords differ."
    page.fill("#new_password_repeat", "a brand new secret")
    page.click("#password-form button[type=submit]")
    page.locator("#password-done:not(:empty)").wait_for()

    page.fill("#password", "wrong password")
    page.check("#confirm")
    page.click("#delete-form button[type=submit]")
    page.locator("#password-error").wait_for()
    page.fill("#password", "a brand new secret")
    page.click("#delete-form button[type=submit]")
    page.wait_for_url(f"{server.url}/login")
    with sqlite3.connect(server.database) as database:
        assert database.execute("SELECT COUNT(*) FROM users WHERE username = 'bob'").fetchone()[0] == 0
