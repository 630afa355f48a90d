"""The real browser app's files: every page renders from the one layout with the navigation defined once and
no inline script or style (the CSP forbids them), and the service worker precaches every script and stylesheet."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart import Quart

from unmask import WEB_ROOT
from unmask.server import create_app
from unmask.server.pages import NAV, PROTECTED_PAGES

SERVICE_WORKER = (WEB_ROOT / "sw.js").read_text()


def js_string_list(name: str) -> list[str]:
    """The string items of `const NAME = [...]` in sw.js."""
    match = re.search(rf"const {name} = \[(.*?)\];", SERVICE_WORKER, re.DOTALL)
    assert match, name
    return re.findall(r"'([^']+)'", match.group(1))


PAGE_TEMPLATES = sorted(
    path.name
    for path in (WEB_ROOT / "templates").glob("*.html")
    if path.name != "layout.html" and not path.name.startswith("_")
)


@pytest.fixture
def real_app(config: dict[str, Any]) -> Quart:
    return create_app({**config, "WEB_ROOT": str(WEB_ROOT)})


async def render(app: Quart, template: str, path: str, nav: Any) -> str:
    async with app.test_request_context(path):
        return await app.jinja_env.get_template(template).render_async(nav=nav, current_path=path)


@pytest.mark.parametrize("path", list(PROTECTED_PAGES))
async def test_signed_in_pages_share_the_layout(real_app: Quart, path: str) -> None:
    html = await render(real_app, PROTECTED_PAGES[path].template, path, NAV)
    assert html.count('aria-current="page"') == 1
    assert f'<a href="{path}" aria-current="page">' in html
    for item in NAV:
        assert f'<a href="{item["path"]}"' in html
    for marker in ('data-action="logout"', 'id="connection"', 'class="skip-link" href="#main"', '<main id="main"'):
        assert html.count(marker) == 1, marker


@pytest.mark.parametrize("path", ["/", "/video"])
async def test_analysis_pages_share_model_status_and_file_name_choice(real_app: Quart, path: str) -> None:
    html = await render(real_app, PROTECTED_PAGES[path].template, path, NAV)
    for marker in ('id="model-message"', 'id="model-progress"', 'id="keep-names"', '<label for="keep-names">'):
        assert html.count(marker) == 1, marker


@pytest.mark.parametrize("template", ["login.html", "register.html"])
async def test_public_pages_have_no_navigation(real_app: Quart, template: str) -> None:
    html = await render(real_app, template, "/login", None)
    assert 'id="auth-form"' in html and '<main id="main" class="auth">' in html
    assert "<nav" not in html and 'data-action="logout"' not in html


@pytest.mark.parametrize("template", PAGE_TEMPLATES)
async def test_no_inline_script_or_style(real_app: Quart, template: str) -> None:
    html = await render(real_app, template, "/", NAV)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(re.search(r'\bsrc="/js/[\w.-]+\.js"', tag) for tag in scripts), scripts
    assert "<style" not in html and " style=" not in html and not re.search(r"\son[a-z]+=", html)
    for src in re.findall(r'(?:src|href)="/((?:js|css)/[^"]+)"', html):
        assert (WEB_ROOT / src).is_file(), src


def test_precache_lists_every_script_and_stylesheet() -> None:
    precache = set(js_string_list("PRECACHE"))
    shipped = {
        f"/{path.relative_to(WEB_ROOT).as_posix()}"
        for folder in ("js", "css")
        for path in (WEB_ROOT / folder).rglob("*")
        if path.is_file()
    }
    assert shipped - precache == set(), "add these to PRECACHE in web/sw.js (and bump CACHE_VERSION)"
    listed_ours = {url for url in precache if url.startswith(("/js/", "/css/", "/img/"))}
    assert {url for url in listed_ours if not (WEB_ROOT / url.lstrip("/")).is_file()} == set()


def test_every_page_template_is_served() -> None:
    assert set(PAGE_TEMPLATES) == {page.template for page in PROTECTED_PAGES.values()} | {"login.html", "register.html"}


def test_service_worker_caches_every_signed_in_page() -> None:
    assert js_string_list("SIGNED_IN_PAGES") == list(PROTECTED_PAGES)
