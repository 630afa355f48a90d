"""The browser app's files: pages, static assets, the TF.js runtime and the model."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
from pathlib import Path
from urllib.parse import quote

from quart import Blueprint, Response, current_app, redirect, request, send_file
from quart_auth import current_user, login_required
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

blueprint = Blueprint("pages", __name__)

CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
}
# The browser revalidates every file (cheap 304s) so a deployment never mixes old and new files.
REVALIDATE = "no-cache"
TFJS_DIST = Path("node_modules/@tensorflow/tfjs/dist")
TFJS_WASM_DIST = Path("node_modules/@tensorflow/tfjs-backend-wasm/dist")
VENDOR_FILES = {
    "tf.min.js": TFJS_DIST,
    "tf.min.js.map": TFJS_DIST,
    "tf-backend-wasm.min.js": TFJS_WASM_DIST,
    "tfjs-backend-wasm.wasm": TFJS_WASM_DIST,
    "tfjs-backend-wasm-simd.wasm": TFJS_WASM_DIST,
    "tfjs-backend-wasm-threaded-simd.wasm": TFJS_WASM_DIST,
}
MODEL_FILE_PATTERN = re.compile(r"[A-Za-z0-9_.-]+\.(?:json|bin)")
PROTECTED_PAGES = {
    "/": "index.html", "/video": "video.html", "/history": "history.html", "/account": "account.html",
}

# path -> (modification time, size, SHA-256): a file is hashed again only when it changes.
_content_hashes: dict[str, tuple[int, int, str]] = {}


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


async def send_web_file(directory: Path | str, name: str) -> Response:
    """A file below `directory`, or a clean 404 (also for a path escaping it or a file not written yet)."""
    path = safe_join(str(directory), name)
    if path is None or not Path(path).is_file():
        raise NotFound()
    response = await send_file(path, mimetype=content_type(name), conditional=True)
    response.headers["Cache-Control"] = REVALIDATE
    return response


def web_root() -> Path:
    return Path(current_app.config["WEB_ROOT"])


@blueprint.get("/")
@blueprint.get("/history")
@blueprint.get("/account")
async def protected_page() -> Response:
    if not await current_user.is_authenticated:
        # A plain redirect, never cached: the service worker must not store it in place of the page.
        response = redirect(f"/login?next={quote(request.path, safe='/')}")
        response.headers["Cache-Control"] = "no-store"
        return response
    return await send_web_file(web_root(), PROTECTED_PAGES[request.path])


@blueprint.get("/login")
async def login_page() -> Response:
    return await send_web_file(web_root(), "login.html")


@blueprint.get("/register")
async def register_page() -> Response:
    if not current_app.config["REGISTRATION_OPEN"]:
        raise NotFound()
    return await send_web_file(web_root(), "register.html")


@blueprint.get("/<any(css, js, img):folder>/<path:name>")
async def asset(folder: str, name: str) -> Response:
    return await send_web_file(web_root() / folder, name)


@blueprint.get("/sw.js")
async def service_worker() -> Response:
    response = await send_web_file(web_root(), "sw.js")
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@blueprint.get("/manifest.webmanifest")
async def manifest() -> Response:
    return await send_web_file(web_root(), "manifest.webmanifest")


@blueprint.get("/vendor/tfjs/<name>")
async def tfjs(name: str) -> Response:
    if name not in VENDOR_FILES:
        raise NotFound()
    return await send_web_file(web_root() / VENDOR_FILES[name], name)


@blueprint.get("/model/<name>")
@login_required
async def model(name: str) -> Response:
    """Model files with a strong ETag (a hash of the content).

    `private, no-cache`: only the user's browser stores them, and it revalidates on each use, which
    costs a 304 and no body while the model is unchanged; a new model gets a new ETag at once.
    """
    path = Path(current_app.config["MODEL_DIR"]) / name
    if not MODEL_FILE_PATTERN.fullmatch(name) or not path.is_file():
        raise NotFound()
    etag = await _content_hash(path)
    headers = {"ETag": f'"{etag}"', "Cache-Control": "private, no-cache", "Vary": "Cookie"}
    if request.if_none_match.contains(etag):
        return Response("", status=304, headers=headers)
    response = await send_file(path, mimetype=content_type(name), add_etags=False)
    response.headers.update(headers)
    return response


async def _content_hash(path: Path) -> str:
    info = path.stat()
    cached = _content_hashes.get(str(path))
    if cached is not None and cached[:2] == (info.st_mtime_ns, info.st_size):
        return cached[2]
    # In a thread: weight shards can be megabytes.
    digest = await asyncio.to_thread(lambda: hashlib.sha256(path.read_bytes()).hexdigest())
    _content_hashes[str(path)] = (info.st_mtime_ns, info.st_size, digest)
    return digest
