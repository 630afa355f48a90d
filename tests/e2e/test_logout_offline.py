"""Logging out holds offline: the page forgets the session at once, a logged-out offline page says so instead of
waiting for the model, and the server's session is ended as soon as the network returns."""

from __future__ import annotations

import re
import time

import pytest
from e2e_support import log_in

pytestmark = pytest.mark.slow

CACHE_TIMEOUT_S = 60
# The signed-in analyser and the login page are in the service worker's cache (cached after a signed-in visit).
PAGES_CACHED = "async () => Boolean((await caches.match('/')) && (await caches.match('/login')))"


def test_logging_out_offline_forgets_the_session_here_and_ends_it_on_the_server_once_online(browser, server):
    context = browser.new_context()
    page = context.new_page()
    log_in(page, server.url)
    deadline = time.monotonic() + CACHE_TIMEOUT_S
    while not page.evaluate(PAGES_CACHED) and time.monotonic() < deadline:
        time.sleep(0.2)

    context.set_offline(True)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login$"))
    assert page.evaluate("() => localStorage.getItem('unmask.session')") is None

    # Offline, the analyser says that nobody is signed in instead of loading the model.
    page.goto(f"{server.url}/")
    page.locator("#logged-out-offline").wait_for()
    assert page.locator("#model-message").count() == 0

    # Back online: the next page start ends the server's session, so the old cookie signs nobody in.
    context.set_offline(False)
    page.goto(f"{server.url}/")
    page.wait_for_url(re.compile(r"/login\?next="))
    assert context.request.get(f"{server.url}/api/session").json()["authenticated"] is False
    context.close()
