"""Request bodies capped as they come in, not once they are in memory.

uvicorn and Starlette hold a request's whole body before a route sees it, and nothing
in between bounds it: one POST of 300 MB took the local server from 69 to 550 MB, only
for the route to refuse an event over 400 kB. A body declared larger than the cap is
refused before any of it is read; one that grows past it as it comes (chunked) is
refused once it passes it, and no route is handed a byte past the cap (uvicorn reads
and drops what the client goes on sending).
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from smb_tui.local.deploy import MAX_UNZIPPED, UPLOAD_PATH

# Ten times the largest value the API takes (a context or an event, 400 kB as JSON):
# room for a value written with escapes (`\u00e9` is six bytes for one character).
JSON_BODY_LIMIT = 4 * 1024 * 1024

TOO_LARGE = (
    f"the request body is over {JSON_BODY_LIMIT // (1024 * 1024)} MB, more than any request"
    " of this API takes; nothing was changed"
)
UPLOAD_TOO_LARGE = (
    f"the upload is larger than a bundle may be ({MAX_UNZIPPED // (1024 * 1024)} MB);"
    " nothing was kept"
)


class BodyTooLarge(HTTPException):
    """Raised from the body's reading: an HTTPException, so that a route reading its
    body (FastAPI's or the app's own) answers it as it is, a 413."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


class BodyLimit:
    """Plain ASGI, as the server's other layers are (BaseHTTPMiddleware halved events/s)."""

    def __init__(self, app: Any, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].startswith(UPLOAD_PATH)  # a bundle's form: its own cap
        limit = self.upload_limit if upload else self.limit
        refusal = UPLOAD_TOO_LARGE if upload else TOO_LARGE
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    # Answered unread: uvicorn closes the connection after it.
                    answer = JSONResponse({"error": refusal}, status_code=413)
                    await answer(scope, receive, send)
                    return
                break
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(refusal)
            return message

        await self.app(scope, counted, send)
