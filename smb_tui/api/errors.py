"""Every way a State Backed call can fail, as one small hierarchy.

An error's message says in one sentence what happened and what to do; the server's own
words are kept in `server_message`. Messages never hold a token or a secret.
"""

from __future__ import annotations


class StateBackedError(Exception):
    """Base of every error the client raises."""

    hint = "see the message for what to do"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.hint)

    @property
    def message(self) -> str:
        return str(self)


class InvalidSlug(StateBackedError, ValueError):
    """A machine or instance name that State Backed would refuse; no request was made."""


class ApiError(StateBackedError):
    """The server answered with an error status."""

    hint = "the server refused the request"

    def __init__(
        self,
        status: int,
        server_message: str | None = None,
        code: str | None = None,
        parameter: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.parameter = parameter
        self.server_message = server_message
        super().__init__(self.describe())

    def describe(self) -> str:
        said = f": {self.server_message}" if self.server_message else ""
        return f"{self.hint} (HTTP {self.status}{said})"


class BadRequest(ApiError):
    hint = "the server rejected the request as malformed; fix it before sending again"


class InvalidParameter(BadRequest):
    hint = "a parameter is wrong; correct it and try again"

    def describe(self) -> str:
        if not self.parameter:
            return super().describe()
        said = self.server_message or "invalid"
        return f"{self.parameter} is wrong; correct it and try again (HTTP {self.status}: {said})"


class SpecifyOrg(BadRequest):
    hint = "this key belongs to several orgs; choose one with --org-id"


class NoMigrationPath(BadRequest):
    hint = "no migrations lead from the instance's version to that one; pick a later version"


class Forbidden(ApiError):
    hint = "the token was refused; check the key id, secret and expiry"


class RejectedByAuthorizer(Forbidden):
    hint = "the machine's allowRead/allowWrite refused this for this auth context"


class MissingScope(Forbidden):
    hint = "the token's key lacks the scope for this; use an admin key"


class MissingUser(Forbidden):
    hint = "the token names no end user; give an auth context with a `sub`"


class MissingOrg(Forbidden):
    hint = "the token has no access to that org; check --org-id"


class NotFound(ApiError):
    hint = "no such machine or instance; check the names"


class InvalidState(ApiError):
    hint = "the instance cannot take this now"

    def describe(self) -> str:
        """Which of State Backed's reasons for a 409 it is, when the server says."""
        said = (self.server_message or "").lower()
        hint = self.hint
        if "paused" in said:
            hint = "the instance is paused: resume it before sending events"
        elif "already" in said or "exists" in said:
            hint = "an instance of that name exists already"
        detail = f": {self.server_message}" if self.server_message else ""
        return f"{hint} (HTTP {self.status}{detail})"


class Conflict(ApiError):
    hint = "the request conflicts with the instance's current state"


class RateLimited(ApiError):
    hint = "too many requests; wait a little and try again"


class ServerError(ApiError):
    hint = "the server failed; try again, and report it if it persists"


class MachineFailed(ServerError):
    """The machine's own code failed on the request (smb-tui local's codes: it raised,
    or ran past its CPU or memory limit, or its worker died): nothing was stored, and
    trying again fails the same way until the code changes."""

    hint = "the machine's code failed on this event, and nothing was stored; see its logs"


class TransportError(StateBackedError):
    """No usable answer came back."""


class ConnectionFailed(TransportError):
    hint = "could not reach the server; check the URL and that it is running"


class TlsError(ConnectionFailed):
    hint = "the TLS handshake failed; check the URL's scheme and the server's certificate"


class TimedOut(TransportError):
    hint = "the server did not answer in time; try again"


class OutcomeUnknown(TimedOut):
    hint = (
        "no answer came back, so the event may or may not have been applied;"
        " re-read the instance's state before sending it again"
    )


class ProtocolError(TransportError):
    hint = "the server's answer was not what the State Backed API sends; check the URL"


class RepeatedCursor(ProtocolError):
    hint = "the server returned a cursor it returned before; stopped paging to avoid a loop"


# A page may be empty and still have a cursor (State Backed does not say it cannot),
# but a server that does so again and again would be followed for ever: more than this
# many in a row is EmptyPages.
MAX_EMPTY_PAGES = 10


class EmptyPages(ProtocolError):
    hint = (
        "the server sent page after page with nothing in it, each with a new cursor;"
        " stopped paging to avoid a loop"
    )


class ConfigurationError(StateBackedError, ValueError):
    """A base URL or port that cannot be used; said before any request is made."""


_BY_CODE: dict[tuple[int, str], type[ApiError]] = {
    (400, "specify-org"): SpecifyOrg,
    (400, "invalid-parameter"): InvalidParameter,
    (400, "no-migration-path"): NoMigrationPath,
    (403, "rejected-by-machine-authorizer"): RejectedByAuthorizer,
    (403, "missing-scope"): MissingScope,
    (403, "missing-user"): MissingUser,
    (403, "missing-org"): MissingOrg,
    (409, "invalid-state"): InvalidState,
    **{
        (500, code): MachineFailed
        for code in (
            "machine-error",
            "machine-cpu-limit",
            "machine-memory-limit",
            "machine-worker-lost",
        )
    },
}
_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_for(
    status: int, server_message: str | None, code: str | None, parameter: str | None = None
) -> ApiError:
    """The error type for a (status, code) pair, as the contract's table maps them."""
    kind = _BY_CODE.get((status, code or "")) or _BY_STATUS.get(status)
    if kind is None:
        kind = ServerError if status >= 500 else ApiError
    return kind(status, server_message, code, parameter)
