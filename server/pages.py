"""The browser app's files: pages, static assets, the TF.js runtime and the model."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from jinja2 import TemplateNotFound
from quart import Blueprint, Response, current_app, redirect, render_template, request, send_file
from quart_auth import current_user, login_required
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from unmask.server.vendor_files import VENDOR_FILES

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
MODEL_FILE_PATTERN = re.compile(r"[A-Za-z0-9_.-]+\.(?:json|bin)")


class Page(NamedTuple):
    """A signed-in page: its template (in WEB_ROOT/templates) and its label in the main navigation."""

    template: str
    label: str


# The signed-in pages, in navigation order: each is routed (login required) and listed in the navigation
# from this one table, so a page cannot be linked without a route or routed without a link.
PROTECTED_PAGES = {
    "/": Page("index.html", "Analyse"),
    "/video": Page("video.html", "Video"),
    "/history": Page("history.html", "History"),
    "/account": Page("account.html", "Account"),
}
NAV = [{"path": path, "label": page.label} for path, page in PROTECTED_PAGES.items()]

# path -> (modification time, size, SHA-256): a file is hashed again only when it changes.
_content_hashes: dict[str, tuple[int, int, str]] = {}


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def is_file(path: Path) -> bool:
    """Whether `path` is a file; False also for names the file system refuses (too long, say)."""
    try:
        return path.is_file()
    except OSError:
        return False


async def send_web_file(directory: Path | str, name: str) -> Response:
    """A file below `directory`, or a clean 404 (also for a path escaping it or a file not written yet)."""
    path = safe_join(str(directory), name)
    if path is None or not is_file(Path(path)):
        raise NotFound()
    response = await send_file(path, mimetype=content_type(name), conditional=True)
    response.headers["Cache-Control"] = REVALIDATE
    return response


def web_root() -> Path:
    return Path(current_app.config["WEB_ROOT"])


def templates_folder(root: Path | str) -> Path:
    """Where the page templates are: WEB_ROOT/templates (the app's Jinja2 template folder)."""
    return Path(root) / "templates"


async def render_page(template: str, *, nav: list[dict[str, str]] | None = None) -> Response:
    """A page from its template (extending layout.html), revalidated like the static files;
    a template not written yet is a clean 404."""
    try:
        html = await render_template(template, nav=nav, current_path=request.path)
    except TemplateNotFound:
        raise NotFound() from None
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = REVALIDATE
    await response.add_etag()
    return await response.make_conditional(request)


async def protected_page() -> Response:
    if not await current_user.is_authenticated:
        # A plain redirect, never cached: the service worker must not store it in place of the page.
        response = redirect(f"/login?next={quote(request.path, safe='/')}")
        response.headers["Cache-Control"] = "no-store"
        return response
    return await render_page(PROTECTED_PAGES[request.path].template, nav=NAV)


for _path in PROTECTED_PAGES:
    blueprint.add_url_rule(_path, "protected_page", protected_page, methods=["GET"])


@blueprint.get("/login")
async def login_page() -> Response:
    return await render_page("login.html")


@blueprint.get("/register")
async def register_page() -> Response:
    if not current_app.config["REGISTRATION_OPEN"]:
        raise NotFound()
    return await render_page("register.html")


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


@blueprint.get("/vendor/<package>/<name>")
async def vendor(package: str, name: str) -> Response:
    folder = VENDOR_FILES.get(package, {}).get(name)
    if folder is None:
        raise NotFound()
    return await send_web_file(web_root() / folder, name)


@blueprint.get("/model/<name>")
@login_required
async def model(name: str) -> Response:
    """Model files with a strong ETag (a hash of the content).

    `private, no-cache`: only the user's browser stores them, and it revalidates on each use, which
    costs a 304 and no body while the model is unchanged; a new model gets a new ETag at once.
    """
    path = Path(current_app.config["MODEL_DIR"]) / name
    if not MODEL_FILE_PATTERN.fullmatch(name) or not is_file(path):
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
