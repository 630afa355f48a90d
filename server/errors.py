"""Error responses: JSON for the API, a plain page elsewhere, never a stack trace."""

from __future__ import annotations

import html

from quart import Quart, Response, current_app, jsonify, request
from quart_auth import Unauthorized
from werkzeug.exceptions import HTTPException, InternalServerError


class ApiError(Exception):
    """A refusal with a message for the client and, where one is to blame, the offending field."""

    def __init__(
        self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}


# Self-contained (no template that could itself be missing), in the app's style, with a way back.
ERROR_PAGE = (
    '<!doctype html><html lang="en"><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<title>{title} · Unmask</title><link rel="icon" href="/img/icon.svg" type="image/svg+xml">'
    '<link rel="stylesheet" href="/css/app.css">'
    '<main><h1>{title}</h1><p><a href="/">Back to Unmask</a></p></main></html>'
)


def error_response(status: int, message: str, field: str | None = None) -> Response:
    if request.path.startswith("/api/"):
        response = jsonify({"error": message, "field": field})
    else:
        response = Response(ERROR_PAGE.format(title=html.escape(f"{status} {message}")), mimetype="text/html")
    response.status_code = status
    return response


def init_app(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        response = error_response(error.status, error.message, error.field)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(Unauthorized)
    async def unauthorized(_: Unauthorized) -> Response:
        return error_response(401, "login required")

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        response = error_response(error.code or 500, _message(error))
        # Keep headers such as Allow (405) that the exception carries.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    async def unexpected_error(error: Exception) -> Response:
        # The traceback goes to the server log only; it holds code, never request bodies or cookies.
        current_app.logger.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
        return error_response(500, "internal server error")


def _message(error: HTTPException) -> str:
    # werkzeug's default descriptions are long sentences; the name ("Not Found") reads better as an error.
    if isinstance(error, InternalServerError) or error.description == type(error).description:
        return error.name.lower()
    return error.description or error.name.lower()
