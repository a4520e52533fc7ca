"""The error the local server's API answers with, raised from any layer of it."""

from __future__ import annotations


class ApiError(Exception):
    """An error the API answers with: status, `code`, `error` and maybe `parameter`."""

    def __init__(
        self, status: int, error: str, code: str | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.code = code
        self.parameter = parameter

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.code:
            body["code"] = self.code
        if self.parameter:
            body["parameter"] = self.parameter
        return body
