"""List cursors as the local server gives them out: opaque, and bound to the list they
came from."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from smb_tui.local.auth import same_secret
from smb_tui.local.service import ApiError
from smb_tui.local.store import BadCursor, decode_cursor


class Cursors:
    """Cursors are opaque and bound to the list they came from: signed with the server's
    key over the path and the query, so a forged, foreign or reused-elsewhere cursor is
    a 400, never a key the store was not made for."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"smb-tui cursors\n" + secret.encode()).digest()

    def sign(self, path: str, query: list[tuple[str, str]], inner: str) -> str:
        """The cursor for `inner` on the list at `path` with `query` (cursor and limit
        left out): also for benchmarks that jump to a page."""
        listing = sorted((k, v) for k, v in query if k not in ("cursor", "limit"))
        digest = hmac.new(
            self._key, f"{path}?{urlencode(listing)}\n{inner}".encode(), hashlib.sha256
        ).digest()[:12]
        return f"{inner}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"

    def _signature(self, request: Request, inner: str) -> str:
        query = request.query_params.multi_items()
        return self.sign(request.url.path, query, inner).rpartition(".")[2]

    def seal(self, request: Request, inner: str | None) -> str | None:
        return None if inner is None else f"{inner}.{self._signature(request, inner)}"

    def open(self, request: Request, cursor: str | None) -> Any:
        if cursor is None:
            return None
        inner, _, signature = cursor.rpartition(".")
        if not inner or not same_secret(signature, self._signature(request, inner)):
            raise ApiError(
                400, "the cursor is not one this list gave out", "invalid-parameter", "cursor"
            )
        try:
            return decode_cursor(inner)
        except BadCursor as error:
            raise ApiError(400, str(error), "invalid-parameter", "cursor") from error
