"""Pages, static assets, the TF.js runtime and the model files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from server_support import AuthActions

from unmask.server.pages import NAV, PROTECTED_PAGES


@pytest.fixture
async def logged_in(auth: AuthActions) -> AuthActions:
    await auth.register()
    return auth


PROTECTED = ["/", "/video", "/history", "/account"]


@pytest.mark.parametrize("path", PROTECTED)
async def test_protected_page_redirects_to_login(client: Any, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("path", "title"), [("/", "analyser"), ("/video", "video"), ("/history", "history"), ("/account", "account")]
)
async def test_protected_page_served_when_logged_in(logged_in: AuthActions, path: str, title: str) -> None:
    response = await logged_in.client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"
    html = await response.get_data(as_text=True)
    assert f"<title>{title}</title>" in html
    assert f'<a href="{path}" aria-current="page">' in html
    assert html.count('aria-current="page"') == 1


def test_every_protected_page_is_routed(app: Quart) -> None:
    """The routes come from PROTECTED_PAGES: a page listed there (and so in the navigation) is served."""
    routed = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == "pages.protected_page"}
    assert routed == set(PROTECTED_PAGES) == set(PROTECTED)


async def test_navigation_lists_every_protected_page(logged_in: AuthActions) -> None:
    html = await (await logged_in.client.get("/history")).get_data(as_text=True)
    assert [item["label"] for item in NAV] == ["Analyse", "Video", "History", "Account"]
    for item in NAV:
        assert f'href="{item["path"]}"' in html and f">{item['label']}</a>" in html


async def test_page_revalidation_is_304(logged_in: AuthActions) -> None:
    etag = (await logged_in.client.get("/video")).headers["ETag"]
    response = await logged_in.client.get("/video", headers={"If-None-Match": etag})
    assert response.status_code == 304


@pytest.mark.parametrize(("path", "title"), [("/login", "login"), ("/register", "register")])
async def test_public_pages_served_logged_out_without_navigation(client: Any, path: str, title: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert f"<title>{title}</title>" in html
    assert "<a href" not in html


async def test_register_page_hidden_when_registration_closed(app: Quart, client: Any) -> None:
    assert (await client.get("/register")).status_code == 200
    app.config["REGISTRATION_OPEN"] = False
    assert (await client.get("/register")).status_code == 404


async def test_missing_page_is_a_clean_404(logged_in: AuthActions, web_root: Path) -> None:
    (web_root / "templates" / "history.html").unlink()
    response = await logged_in.client.get("/history")
    assert response.status_code == 404
    assert "Traceback" not in await response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/css/app.css", "text/css"),
        ("/js/app.js", "text/javascript"),
        ("/manifest.webmanifest", "application/manifest+json"),
    ],
)
async def test_static_assets(client: Any, path: str, mimetype: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "path", ["/css/../index.html", "/css/%2e%2e/index.html", "/js/missing.js", "/img/x.png", "/js/" + "a" * 5000]
)
async def test_asset_outside_folder_or_missing_is_404(client: Any, path: str) -> None:
    assert (await client.get(path)).status_code == 404


async def test_service_worker_headers(client: Any) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.mimetype == "text/javascript"


@pytest.mark.parametrize("path", ["tfjs/tfjs-backend-wasm-simd.wasm", "c2pa/c2pa_bg.wasm"])
async def test_vendor_wasm_content_type(client: Any, path: str) -> None:
    response = await client.get(f"/vendor/{path}")
    assert response.status_code == 200
    assert response.mimetype == "application/wasm"


@pytest.mark.parametrize("path", ["tfjs/tf.min.js", "exifr/full.esm.mjs", "c2pa/c2pa.js"])
async def test_vendor_serves_whitelisted_script(client: Any, path: str) -> None:
    response = await client.get(f"/vendor/{path}")
    assert response.status_code == 200 and response.mimetype == "text/javascript"


async def test_vendor_serves_the_face_detector(client: Any) -> None:
    response = await client.get("/vendor/faces/blazeface.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert (await client.get("/vendor/faces/blazeface.bin")).status_code == 200


@pytest.mark.parametrize(
    "path", ["/vendor/faces/tf.min.js", "/vendor/tfjs/blazeface.json", "/vendor/human/blazeface.json"]
)
async def test_vendor_files_are_served_only_from_their_own_package(client: Any, path: str) -> None:
    assert (await client.get(path)).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "tfjs/tf.js",
        "tfjs/package.json",
        "tfjs/..%2f..%2fpackage.json",
        "tfjs/tf-backend-wasm.min.js",
        "exifr/package.json",
        "exifr/full.umd.js",
        "tfjs/full.esm.mjs",
        "seedrandom/index.js",
        "c2pa/c2pa.d.ts",
    ],
)
async def test_vendor_refuses_other_or_missing_files(client: Any, path: str) -> None:
    assert (await client.get(f"/vendor/{path}")).status_code == 404


async def test_model_requires_login(client: Any) -> None:
    assert (await client.get("/model/model.json")).status_code == 401


async def test_model_json_with_strong_etag(logged_in: AuthActions, web_root: Path) -> None:
    response = await logged_in.client.get("/model/model.json")
    digest = hashlib.sha256((web_root / "model/model.json").read_bytes()).hexdigest()
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["ETag"] == f'"{digest}"'
    assert response.headers["Cache-Control"] == "private, no-cache"


async def test_model_weights_content_type(logged_in: AuthActions) -> None:
    response = await logged_in.client.get("/model/group1-shard1of1.bin")
    assert response.mimetype == "application/octet-stream"
    assert await response.get_data() == b"\1\2\3\4"


async def test_model_revalidation_is_304(logged_in: AuthActions) -> None:
    etag = (await logged_in.client.get("/model/model.json")).headers["ETag"]
    response = await logged_in.client.get("/model/model.json", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["ETag"] == etag
    assert await response.get_data() == b""


async def test_changed_model_gets_new_etag(logged_in: AuthActions, web_root: Path) -> None:
    etag = (await logged_in.client.get("/model/model.json")).headers["ETag"]
    (web_root / "model/model.json").write_text('{"format": "layers-model", "version": 2}')
    response = await logged_in.client.get("/model/model.json", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag


@pytest.mark.parametrize("name", ["missing.json", "secret.txt", "..%2fsw.js", "a" * 3000 + ".json"])
async def test_model_missing_or_other_file_is_404(logged_in: AuthActions, name: str) -> None:
    assert (await logged_in.client.get(f"/model/{name}")).status_code == 404
