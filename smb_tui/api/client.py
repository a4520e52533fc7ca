"""The typed async State Backed client: one method per endpoint of the contract.

Where `statebacked-api.md` is silent this does what the official JavaScript client
(statebacked/client-js) does. No Textual here: scripts use it as it is.

Over 400 lines on purpose: it is the API's surface, one class a user reads from top to
bottom (the endpoints, then paging, then realtime); the models, errors, token sources and
wire rules it builds on are modules of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import json
import logging
import random
import re
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlencode

from pydantic import BaseModel, TypeAdapter, ValidationError

from smb_tui.api.auth import TokenSource
from smb_tui.api.errors import (
    MAX_EMPTY_PAGES,
    ApiError,
    ConfigurationError,
    ConnectionFailed,
    EmptyPages,
    OutcomeUnknown,
    ProtocolError,
    RepeatedCursor,
    StateBackedError,
    TimedOut,
    TlsError,
    error_for,
)
from smb_tui.api.lean_httpx import httpx
from smb_tui.api.models import (
    STOPPED_SERVICES_HEADER,
    AdministrativeInstanceState,
    CodeUpload,
    Event,
    IndexEntry,
    InstanceSummary,
    InstanceUpdate,
    Logs,
    Machine,
    MachineSummary,
    MachineVersionInfo,
    Page,
    Sent,
    State,
    StatechartDefinition,
    TokenResponse,
    Transition,
    Transitions,
    check_slug,
    event_json,
)
from smb_tui.api.network import AsyncioBackend, TrustOnFirstUse
from smb_tui.api.sending import mark_sent, next_cursor_to, request_sent, started, taken
from smb_tui.api.wire import PRODUCTION_URL, decode_services, delete_confirmation

if TYPE_CHECKING:
    from websockets import ClientConnection

# Reads answer fast or not at all; sending an event waits for the instance to settle,
# which State Backed allows 90 s, so those calls wait well past that.
READ_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
SETTLE_TIMEOUT = httpx.Timeout(15.0, connect=5.0, read=120.0)
# The shortest settle time-out State Backed documents (the reference says 10 s, the
# guides 90 s): an answer slower than this may have come before the instance settled.
SETTLE_LIMIT = 10.0
READ_DEADLINE = 30.0  # seconds one read may take in all, however slowly bytes come
MAX_RESPONSE_BYTES = 64_000_000  # a page of 100 contexts of 400 kB is 40 MB
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_TRIES = 3
MAX_RETRY_AFTER = 30.0
PING_INTERVAL = 15.0  # State Backed asks for one within 5 minutes; idle limits are shorter

# Requests, one line each, for `--debug FILE`; "smb_tui.api" only: websockets' own
# debug lines hold the realtime URL, whose query carries the token.
log = logging.getLogger("smb_tui.api")

T = TypeVar("T", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)
_Early = Callable[[str], Awaitable[None]]


class Reconnected:
    """Yielded by `subscribe` after the connection dropped and came back:
    updates may have been missed, so re-read the instance."""

    def __repr__(self) -> str:
        return "Reconnected()"


def _backoff(attempt: int) -> float:
    return min(0.25 * 2 ** (attempt - 1), 5.0) + random.uniform(0, 0.25)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (ValueError, TypeError, OverflowError):  # "soon", a 32nd of October
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - time.time()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def _is_tls(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "ssl" in str(error).lower() or "certificate" in str(error).lower()


class _NoCookies(httpx.Cookies):
    """State Backed sets no cookies, and the client sends none: httpx read every answer
    for them (through urllib's cookie jar), a tenth of the time spent paging a history."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Http(httpx.AsyncClient):
    """httpx's client, without cookies, on asyncio's own transports, and with a shorter
    way from a request to its transport."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # httpcore on asyncio's transports rather than anyio's streams (`network.py`).
        # httpx has no option for it, so it is set on the pool its transport made; should
        # a later httpx keep it elsewhere, the client runs as before, only slower
        # (`test_the_client_runs_on_its_fast_paths` says so).
        pool = getattr(self._transport, "_pool", None)
        if pool is not None and hasattr(pool, "_network_backend"):
            pool._network_backend = AsyncioBackend()

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        return None

    async def send_direct(self, request: httpx.Request) -> httpx.Response:
        """`request` handed to its transport (the pool, or a proxy from the environment)
        and its answer returned unread, as `send(request, stream=True)` does without its
        auth, redirect, hook, cookie and timing layers, none of which this client uses
        (a tenth of the time paging a history, most of it between one page's answer and
        the request for the next)."""
        transport_for = getattr(self, "_transport_for_url", None)
        if transport_for is None:  # a later httpx: its own way
            return await self.send(request, stream=True)
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        return await transport_for(request.url).handle_async_request(request)


_NO_COOKIES = _NoCookies()


class StateBackedClient:
    """An async client for one State Backed API (production, or any other base URL)."""

    def __init__(
        self,
        auth: TokenSource,
        base_url: str = PRODUCTION_URL,
        *,
        org_id: str | None = None,
        act: Mapping[str, Any] | None = None,
        timeout: httpx.Timeout = READ_TIMEOUT,
        settle_timeout: httpx.Timeout = SETTLE_TIMEOUT,
        tries: int = MAX_TRIES,
        deadline: float = READ_DEADLINE,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.auth = auth
        self.base_url = _checked_base_url(base_url)
        self.org_id = org_id
        self.act = dict(act) if act is not None else None
        self.settle_timeout = settle_timeout
        self.tries = max(1, tries)
        self.deadline = deadline
        # Sending waits for the instance to settle: its deadline is the settle allowance.
        self.settle_deadline = max(deadline, (settle_timeout.read or 0.0) + 30.0)
        self.max_response_bytes = max_response_bytes
        self._http = _Http(
            base_url=self.base_url,
            timeout=timeout,
            headers={"user-agent": "smb-tui"},
            verify=TrustOnFirstUse(),
        )

    def __repr__(self) -> str:
        return f"StateBackedClient(base_url={self.base_url!r}, auth={self.auth!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> StateBackedClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- requests ----------------------------------------------------------------------

    async def _headers(self) -> dict[str, str]:
        headers = {"authorization": f"Bearer {await self.auth.token(self.exchange_token)}"}
        if self.org_id:
            headers["x-statebacked-org-id"] = self.org_id
        if self.act is not None:
            headers["x-statebacked-act"] = json.dumps(self.act)
        return headers

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        settles: bool = False,
        early: _Early | None = None,
    ) -> Any:
        """One call: GETs retry on connection errors, 429 and 502-504. Writes are tried
        once more only when they provably never left: no connection could be made.
        `early`: told a list's next cursor once the answer's bytes are all in, before
        they are read (`_walk`)."""
        return self._parse(
            await self._exchange(
                method, path, params=params, body=body, settles=settles, early=early
            )
        )

    def _url(self, path: str, query: Mapping[str, Any]) -> str:
        """The request's whole URL, which httpx parses once; given a path, the base and
        params, it parses and merges three URLs (a twentieth of paging a history)."""
        url = self.base_url.rstrip("/") + path
        return f"{url}?{httpx.QueryParams(query)}" if query else url

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        settles: bool = False,
        early: _Early | None = None,
    ) -> httpx.Response:
        retry = method == "GET"
        sent = taken(request_sent)  # `sending.started` waits for this request to go out
        query = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(1, self.tries + 1):
            last = attempt == self.tries or not retry
            # No connection, no request: a write is tried once more on a fresh connection.
            never_left_last = attempt == self.tries if retry else attempt > 1
            try:
                request = self._http.build_request(
                    method,
                    self._url(path, query),
                    json=body,
                    headers=await self._headers(),
                    timeout=self.settle_timeout if settles else httpx.USE_CLIENT_DEFAULT,
                    extensions=None if sent is None else {"trace": _setting_when_sent(sent)},
                )
            except httpx.InvalidURL as error:
                # Names are checked before they are sent: what no URL holds came from the
                # server (a cursor of 70,000 characters), and asking again cannot help.
                raise ProtocolError(
                    f"a cursor the server sent is too long for a URL ({error}); what"
                    " follows it cannot be asked for"
                ) from None
            try:
                # httpx's time-outs count per read, so a body trickling a byte at a time
                # never trips them: the whole exchange also has a deadline.
                async with asyncio.timeout(self.settle_deadline if settles else self.deadline):
                    response = await self._receive(request, early)
            except TimeoutError:
                if settles:
                    raise OutcomeUnknown() from None
                raise TimedOut(
                    f"{self.base_url} took over {self.deadline:.0f} s to answer; try again"
                ) from None
            except httpx.ConnectError as error:
                if _is_tls(error):
                    raise TlsError() from None
                if never_left_last:
                    raise ConnectionFailed(
                        f"could not reach {self.base_url}; check the URL and that the server"
                        " is running"
                    ) from None
            except httpx.ConnectTimeout:
                if never_left_last:
                    raise TimedOut(
                        f"{self.base_url} did not accept a connection in time;"
                        " check the URL and the network"
                    ) from None
            except httpx.TimeoutException:
                if settles:
                    raise OutcomeUnknown() from None
                raise TimedOut(f"{self.base_url} did not answer in time; try again") from None
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as error:
                if settles:
                    raise OutcomeUnknown() from None
                if last:
                    raise ConnectionFailed(
                        f"the connection to {self.base_url} broke ({type(error).__name__});"
                        " try again"
                    ) from None
            except StateBackedError:
                raise
            except (httpx.HTTPError, UnicodeError, ValueError) as error:
                # Whatever else a broken server can make httpx raise: never an error of
                # ours escaping as something the app does not expect.
                if settles:
                    raise OutcomeUnknown() from None
                raise ProtocolError(
                    f"{self.base_url} answered something that is not HTTP as it should be"
                    f" ({type(error).__name__}); check the URL"
                ) from None
            else:
                if not (retry and not last and response.status_code in RETRY_STATUSES):
                    return response
                await asyncio.sleep(_retry_after(response) or _backoff(attempt))
                continue
            await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _receive(self, request: httpx.Request, early: _Early | None = None) -> httpx.Response:
        """Send `request` and read its answer, refusing one larger than the cap. Each
        exchange is one line of the debug log (`--debug FILE`): method, path and query,
        status, time, size; never a header, so never a token."""
        started = time.perf_counter()
        try:
            response = await self._receive_capped(request, early)
        except BaseException as error:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s failed: %s", request.method, _path(request), type(error).__name__)
            raise
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %d %.1f ms %d bytes",
                request.method,
                _path(request),
                response.status_code,
                (time.perf_counter() - started) * 1000,
                len(response.content),
            )
        return response

    async def _receive_capped(
        self, request: httpx.Request, early: _Early | None = None
    ) -> httpx.Response:
        response = await self._http.send_direct(request)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                raise self._too_large()
            whole = int(declared) if early and declared.isdigit() and response.is_success else -1
            if response.headers.get("content-encoding"):
                whole = -1  # the length is of the encoded bytes
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():  # decoded, so the cap is what we hold
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise self._too_large()
                chunks.append(chunk)
                if size == whole and early is not None:
                    # All in, before httpcore and the parser finish with it: the next
                    # page can be asked for now, on another connection.
                    chunks = [b"".join(chunks)]
                    cursor = _cursor_at_end(chunks[0])
                    if cursor is not None:
                        await early(cursor)
        finally:
            await response.aclose()
        # As bytes: a header that is not ASCII (`x-served-by: café`) is kept as it came,
        # never decoded and encoded again (which raised UnicodeEncodeError on every call).
        headers = [
            (k, v)
            for k, v in response.headers.raw
            if k.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=b"".join(chunks),
            request=request,
            extensions=response.extensions,
        )

    def _too_large(self) -> ProtocolError:
        return ProtocolError(
            f"the server's answer is over {self.max_response_bytes // 1_000_000} MB;"
            " stopped reading it"
        )

    def _parse(self, response: httpx.Response) -> Any:
        if response.is_success:
            if response.status_code == 204 or not response.content:
                return None
            try:
                return _json(response.content)
            except _NestedTooDeep:
                # An end user's event or context nested that deep (a few kB) is JSON all
                # the same: not a wrong URL, as the message below would say.
                raise ProtocolError(
                    "the server's answer holds a value nested deeper than this client reads"
                    " (about 900 levels; an event or context sent that way)"
                ) from None
            except ValueError:
                raise ProtocolError(
                    f"the server answered HTTP {response.status_code} with a body that is"
                    " not JSON; check that the URL points at a State Backed API"
                ) from None
        try:
            body = _json(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = body.get("error") if isinstance(body.get("error"), str) else None
            if message is not None:
                message = _redact(message, response)
            code = body.get("code") if isinstance(body.get("code"), str) else None
            parameter = body.get("parameter") if isinstance(body.get("parameter"), str) else None
            raise error_for(response.status_code, message, code, parameter)
        snippet = " ".join(_redact(response.text, response).split())[:120]
        snippet = snippet or response.reason_phrase
        raise error_for(response.status_code, f"non-JSON answer: {snippet}", None)

    async def exchange_token(self, form: Mapping[str, str]) -> str:
        """POST /tokens: exchange a form (an anonymous session's JWT) for an access token.

        Sends no bearer token of its own; AnonymousSession calls it for you.
        """
        request = self._http.build_request("POST", "/tokens", data=dict(form))
        try:
            # The same cap and deadline as every other answer: a token is a few hundred
            # bytes, and a server that sends gigabytes, or a byte a second, gets no more.
            async with asyncio.timeout(self.deadline):
                response = await self._receive(request)
        except TimeoutError:
            raise TimedOut("the token exchange did not answer in time; try again") from None
        except httpx.TimeoutException:
            raise TimedOut("the token exchange did not answer in time; try again") from None
        except httpx.TransportError:
            raise ConnectionFailed(
                f"could not reach {self.base_url} to exchange a token; check the URL"
            ) from None
        except StateBackedError:
            raise
        except (httpx.HTTPError, UnicodeError, ValueError):
            raise ProtocolError(f"{self.base_url} answered the token exchange badly") from None
        return _model(TokenResponse, self._parse(response)).access_token

    # -- machines ----------------------------------------------------------------------

    async def _list(self, path: str, key: str, kind: type[T], cursor: str | None) -> Page[T]:
        early = taken(next_cursor_to)  # a reader asking ahead (`sending.asking_ahead`)
        body = await self._request("GET", path, params={"cursor": cursor}, early=early)
        return _page(body, key, kind)

    async def list_machines(self, cursor: str | None = None) -> Page[MachineSummary]:
        return await self._list("/machines", "machines", MachineSummary, cursor)

    async def get_machine(self, machine: str) -> Machine:
        body = await self._request("GET", f"/machines/{check_slug(machine, 'machine')}")
        return _model(Machine, body.get("machine") if isinstance(body, dict) else None)

    async def list_versions(
        self, machine: str, cursor: str | None = None
    ) -> Page[MachineVersionInfo]:
        return await self._list(_versions_path(machine), "versions", MachineVersionInfo, cursor)

    async def get_definition(self, machine: str, version: str = "current") -> StatechartDefinition:
        """A version's statechart (`current`: the current version's). Only smb-tui's local
        server answers it; State Backed answers 404 (NotFound)."""
        path = f"/machines/{check_slug(machine, 'machine')}/v/{check_slug(version, 'version')}"
        try:
            return _model(StatechartDefinition, await self._request("GET", f"{path}/definition"))
        except RecursionError:  # a definition nested past any machine's depth
            raise ProtocolError("the server's statechart is nested too deeply") from None

    async def replay_history(
        self,
        machine: str,
        version: str,
        history: Sequence[Mapping[str, Any]],
        context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A recorded history (rows as `export history` writes them) replayed against a
        version's code on smb-tui's local server: `{rows, agrees, divergences}`. State
        Backed answers 404 (NotFound)."""
        path = f"/machines/{check_slug(machine, 'machine')}/v/{check_slug(version, 'version')}"
        body = {"history": [dict(row) for row in history], "context": dict(context or {})}
        answer = await self._request("POST", f"{path}/replay", body=body)
        if not isinstance(answer, dict) or not isinstance(answer.get("divergences"), list):
            raise ProtocolError("the server's answer is not a replay report; check the URL")
        return answer

    # -- instances ---------------------------------------------------------------------

    async def list_instances(
        self, machine: str, cursor: str | None = None
    ) -> Page[InstanceSummary]:
        return await self._list(_instances_path(machine), "instances", InstanceSummary, cursor)

    async def create_instance(
        self,
        machine: str,
        slug: str,
        context: Mapping[str, Any] | None = None,
        machine_version_id: str | None = None,
    ) -> State:
        """Create and wait for it to settle. Never retried: a time-out is OutcomeUnknown."""
        body: dict[str, Any] = {"slug": check_slug(slug, "instance")}
        if context is not None:
            body["context"] = dict(context)
        if machine_version_id is not None:
            body["machineVersionId"] = machine_version_id
        path = f"/machines/{check_slug(machine, 'machine')}"
        return _model(State, await self._request("POST", path, body=body, settles=True))

    async def copy_instance(
        self,
        machine: str,
        instance: str,
        state: Any,
        context: Mapping[str, Any],
        version_id: str | None = None,
        copied_from: str = "",
    ) -> State:
        """Make `instance` at `state` with `context`: a copy of an instance kept elsewhere.
        Only smb-tui's local server answers it (State Backed: NotFound)."""
        path = f"/machines/{check_slug(machine, 'machine')}/i/{check_slug(instance)}/copy"
        body = {
            "state": state,
            "context": dict(context),
            "machineVersionId": version_id,
            "copiedFrom": copied_from,
        }
        return _model(State, await self._request("POST", path, body=body))

    async def get_instance(self, machine: str, instance: str) -> State:
        return _model(State, await self._request("GET", _instance_path(machine, instance)))

    async def get_instance_admin(self, machine: str, instance: str) -> AdministrativeInstanceState:
        path = _instance_path(machine, instance) + "/admin"
        return _model(AdministrativeInstanceState, await self._request("GET", path))

    async def send_event(
        self, machine: str, instance: str, event: Event | Mapping[str, Any]
    ) -> State:
        """Send and wait for the instance to settle. Never retried: a second send is a
        second event, so a time-out raises OutcomeUnknown."""
        payload = dict(event) if isinstance(event, Mapping) else event_json(event)
        path = _events_path(machine, instance)
        return _model(
            State, await self._request("POST", path, body={"event": payload}, settles=True)
        )

    async def send_event_report(
        self, machine: str, instance: str, event: Event | Mapping[str, Any]
    ) -> Sent:
        """`send_event`, and how long it took and whether the instance settled."""
        payload = dict(event) if isinstance(event, Mapping) else event_json(event)
        path = _events_path(machine, instance)
        started = time.monotonic()
        response = await self._exchange("POST", path, body={"event": payload}, settles=True)
        state = _model(State, self._parse(response))
        seconds = time.monotonic() - started
        stopped = response.headers.get(STOPPED_SERVICES_HEADER)
        if stopped is not None:
            names = decode_services(stopped)
            return Sent(state=state, seconds=seconds, settled=not names, stopped_services=names)
        # State Backed does not say; an answer at its shortest settle time-out may not be.
        settled = None if seconds >= SETTLE_LIMIT else True
        return Sent(state=state, seconds=seconds, settled=settled)

    async def list_transitions(
        self, machine: str, instance: str, cursor: str | None = None
    ) -> Page[Transition]:
        return await self._list(_events_path(machine, instance), "transitions", Transition, cursor)

    async def set_instance_status(
        self, machine: str, instance: str, status: Literal["running", "paused"]
    ) -> None:
        path = _instance_path(machine, instance) + "/status"
        await self._request("PUT", path, body={"status": status})

    async def set_desired_version(
        self, machine: str, instance: str, machine_version_id: str
    ) -> None:
        path = _instance_path(machine, instance) + "/v"
        await self._request("PUT", path, body={"targetMachineVersionId": machine_version_id})

    async def delete_instance(self, machine: str, instance: str) -> None:
        """Delete an instance and its history forever."""
        body = {
            "dangerDataWillBeDeletedForever": True,
            "hmacSha256OfMachineInstanceNameWithMachineNameKey": delete_confirmation(
                machine, instance
            ),
        }
        await self._request("DELETE", _instance_path(machine, instance), body=body)

    # -- indexes and logs --------------------------------------------------------------

    async def query_index(
        self,
        machine: str,
        index: str,
        value: str | int | float | None = None,
        *,
        op: Literal["eq", "ne", "gt", "gte", "lt", "lte"] | None = None,
        direction: Literal["asc", "desc"] = "asc",
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[IndexEntry]:
        """Instances by an index value; with no value, every instance in index order."""
        path = (
            f"/machines/{check_slug(machine, 'machine')}/indexes/{check_slug(index, 'index')}/query"
        )
        if value is not None and op is None:
            op = "eq"
        if value is None:
            op = None
        params = {"op": op, "value": value, "dir": direction, "limit": limit, "cursor": cursor}
        return _page(await self._request("GET", path, params=params), "instances", IndexEntry)

    async def get_logs(
        self,
        start: str,
        end: str | None = None,
        *,
        machine: str | None = None,
        instance: str | None = None,
        version: str | None = None,
    ) -> Logs:
        """At most 100 entries; call again with `start=logs.max_timestamp` for more.
        InvalidSlug for a machine or instance no State Backed name can be (it would
        match nothing, silently)."""
        params = {
            "from": start,
            "to": end,
            "machine": None if machine is None else check_slug(machine, "machine"),
            "instance": None if instance is None else check_slug(instance, "instance"),
            "version": version,
        }
        return _model(Logs, await self._request("GET", "/logs", params=params))

    # -- deploying ----------------------------------------------------------------------

    async def create_machine(self, machine: str, indexes: Sequence[str] = ()) -> None:
        """A machine with no version yet (`indexes`: the names its versions select)."""
        body: dict[str, Any] = {"slug": check_slug(machine, "machine name")}
        if indexes:
            body["indexes"] = [check_slug(name, "index name") for name in indexes]
        await self._request("POST", "/machines", body=body)

    async def delete_machine(self, machine: str) -> None:
        """Delete a machine with no instances, its versions and migrations, forever."""
        body = {
            "dangerDataWillBeDeletedForever": True,
            "hmacSha256OfMachineNameWithMachineNameKey": delete_confirmation(machine, machine),
        }
        await self._request("DELETE", f"/machines/{check_slug(machine, 'machine name')}", body=body)

    async def create_version(
        self,
        machine: str,
        code: str,
        *,
        client_info: str = "",
        make_current: bool = False,
        index_selectors: Mapping[str, str] | None = None,
        progress: Callable[[str], None] = lambda step: None,
    ) -> str:
        """Deploy `code` (an ES module bundle) as a new version of `machine`, as the
        official client does: reserve, upload (gzipped), finalize. Its version id.
        `progress` hears each step as it starts."""
        path = f"/machines/{check_slug(machine, 'machine name')}"
        progress("reserving a version")
        reserved = _model(CodeUpload, await self._request("POST", f"{path}/v", params={"gzip": ""}))
        progress(f"uploading {len(code.encode()):,} bytes")
        await self._upload(reserved, code, f"{machine}.js")
        progress("finalizing")
        body: dict[str, Any] = {"clientInfo": client_info, "makeCurrent": make_current}
        if index_selectors is not None:
            body["indexSelectors"] = dict(index_selectors)
        made = await self._request("PUT", f"{path}/v/{reserved.signed_id}", body=body)
        return _made(made, "machineVersionId")

    async def create_migration(
        self,
        machine: str,
        from_version: str,
        to_version: str,
        code: str,
        *,
        progress: Callable[[str], None] = lambda step: None,
    ) -> str:
        """Deploy a migration module from one version to another. Its id."""
        path = f"/machines/{check_slug(machine, 'machine name')}/migrations"
        progress("reserving a migration")
        body = {"fromMachineVersionId": from_version, "toMachineVersionId": to_version}
        reserved = _model(
            CodeUpload, await self._request("POST", path, params={"gzip": ""}, body=body)
        )
        progress(f"uploading {len(code.encode()):,} bytes")
        await self._upload(reserved, code, f"{machine}_{from_version}_to_{to_version}.js")
        progress("finalizing")
        made = await self._request("PUT", f"{path}/{reserved.signed_id}", body={})
        return _made(made, "machineVersionMigrationId")

    async def _upload(self, reserved: CodeUpload, code: str, file_name: str) -> None:
        """The code as a form to the upload URL, with no Authorization header (it goes to
        storage, not to the API)."""
        if not reserved.url.startswith(("https://", "http://")):
            raise ProtocolError("the server gave an upload URL that is not http(s)")
        fields = {
            **reserved.fields,
            "content-type": "application/javascript",
            "content-encoding": "gzip",
        }
        files = {"file": (file_name, gzip.compress(code.encode()), "application/javascript")}
        try:
            async with asyncio.timeout(self.settle_deadline):
                response = await self._http.post(reserved.url, data=fields, files=files)
        except TimeoutError:
            raise TimedOut("the code upload took too long; nothing was deployed") from None
        except httpx.HTTPError as error:
            raise ConnectionFailed(
                f"the code upload failed ({type(error).__name__}); nothing was deployed"
            ) from None
        if not response.is_success:
            self._parse(response)  # raises with the server's words
            raise ApiError(response.status_code, "the code upload was refused")

    # -- paging ------------------------------------------------------------------------

    async def pages(
        self, fetch: Callable[[str | None], Awaitable[Page[T]]]
    ) -> AsyncGenerator[Page[T], None]:
        """Every page, following cursors; a cursor seen before raises RepeatedCursor, and
        more than MAX_EMPTY_PAGES empty pages in a row raise EmptyPages."""
        followed = _Followed()
        cursor: str | None = None
        while True:
            page = await fetch(cursor)
            yield page
            if not page.cursor:
                return
            followed.check(page.cursor, not page.items)
            cursor = page.cursor

    async def items(self, fetch: Callable[[str | None], Awaitable[Page[T]]]) -> AsyncIterator[T]:
        async for item in self._items(self.pages(fetch)):
            yield item

    async def _walk(self, path: str, key: str, kind: type[T]) -> AsyncGenerator[Page[T], None]:
        """Every page of a list, as `pages` follows them. Each next page is asked for as
        soon as its cursor is known, so that the server works on it meanwhile: once the
        answer's last bytes are in, from the cursor at their end (before httpcore and the
        parser are done with them), else once the answer is parsed; either way before its
        items are checked and used."""
        followed = _Followed()
        early: dict[str, asyncio.Future[Any]] = {}  # the next page, asked for from the bytes
        awaited: asyncio.Future[Any] | None = None

        def ask(cursor: str | None) -> Awaitable[Any]:
            return self._request("GET", path, params={"cursor": cursor}, early=ask_early)

        async def ask_early(cursor: str) -> None:
            # Only from the page this walk waits on, so one page ahead of the reader and
            # never a chain of them while it is busy; never for a cursor that would stop it.
            if (
                asyncio.current_task() is awaited
                and not early
                and cursor not in followed.seen
                and followed.empty < MAX_EMPTY_PAGES  # this page may be the one too many
            ):
                early[cursor] = await started(ask(cursor))

        ahead = awaited = await started(ask(None))
        try:
            while True:
                awaited = ahead
                body = await ahead
                cursor = _cursor(body)
                stop: StateBackedError | None = None
                if cursor:
                    items = body.get(key) if isinstance(body, dict) else None
                    try:
                        followed.check(cursor, isinstance(items, list) and not items)
                    except StateBackedError as error:
                        stop = error  # raised once this page is read
                    else:
                        ahead = early.pop(cursor) if cursor in early else await started(ask(cursor))
                for other in early.values():  # asked for a cursor the answer did not hold
                    other.cancel()
                early.clear()
                yield _page(body, key, kind)
                if stop is not None:
                    raise stop
                if not cursor:
                    return
        finally:
            for request in (ahead, *early.values()):
                if not request.done():  # the page after the one the reader stopped at
                    request.cancel()
                    await asyncio.wait((request,))
                if not request.cancelled():
                    request.exception()  # a failure nobody reads is not "never retrieved"

    def machines(self) -> AsyncIterator[MachineSummary]:
        return self._items(self._walk("/machines", "machines", MachineSummary))

    def instances(self, machine: str) -> AsyncIterator[InstanceSummary]:
        return self._items(self._walk(_instances_path(machine), "instances", InstanceSummary))

    def versions(self, machine: str) -> AsyncIterator[MachineVersionInfo]:
        return self._items(self._walk(_versions_path(machine), "versions", MachineVersionInfo))

    def transition_pages(
        self, machine: str, instance: str
    ) -> AsyncGenerator[Page[Transition], None]:
        return self._walk(_events_path(machine, instance), "transitions", Transition)

    def transitions(self, machine: str, instance: str) -> AsyncIterator[Transition]:
        return self._items(self.transition_pages(machine, instance))

    @staticmethod
    async def _items(pages: AsyncGenerator[Page[T], None]) -> AsyncIterator[T]:
        async with contextlib.aclosing(pages):  # a reader that stops closes the walk
            async for page in pages:
                for item in page.items:
                    yield item

    # -- realtime ----------------------------------------------------------------------

    def realtime_url(self, token: str) -> str:
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        rest = self.base_url.split("://", 1)[-1]
        query = {"token": token}
        if self.org_id:
            query["x-statebacked-org-id"] = self.org_id
        return f"{scheme}://{rest}/rt?{urlencode(query)}"

    async def subscribe(
        self,
        machine: str,
        instance: str,
        *,
        ping_interval: float = PING_INTERVAL,
        max_backoff: float = 10.0,
        on_status: Callable[[Literal["live", "reconnecting"]], None] | None = None,
    ) -> AsyncIterator[InstanceUpdate | Reconnected]:
        """Updates of one instance, for as long as you iterate.

        Pings well within State Backed's 5 minutes, reconnects with backoff, subscribes
        again and then yields `Reconnected`: updates may have been missed meanwhile.
        A refusal (403, 404) ends the iteration with its error. `on_status` hears
        "live" once subscribed and "reconnecting" while the connection is down.
        """
        import websockets  # when first used: none of the dashboard's start waits for it

        check_slug(machine, "machine")
        check_slug(instance, "instance")
        subscribe = json.dumps(
            {
                "type": "subscribe-to-instance",
                "requestId": f"smb-{machine}-{instance}",
                "machineName": machine,
                "machineInstanceName": instance,
            }
        )
        connected_before = False
        attempt = 0
        while True:
            try:
                log.debug("realtime: subscribing to %s/%s", machine, instance)
                url = self.realtime_url(await self.auth.token(self.exchange_token))
                async with websockets.connect(
                    url, open_timeout=10, ping_interval=None, max_size=2**23
                ) as connection:
                    await connection.send(subscribe)
                    if on_status is not None:
                        on_status("live")
                    if connected_before:
                        yield Reconnected()
                    connected_before, attempt = True, 0
                    pinger = asyncio.create_task(_ping(connection, ping_interval))
                    try:
                        async for raw in connection:
                            update = _realtime_message(raw)
                            if update is not None:
                                yield update
                    finally:
                        pinger.cancel()
            except StateBackedError:
                raise
            except (
                OSError,
                TimeoutError,
                websockets.ConnectionClosed,
                websockets.InvalidHandshake,
            ) as error:
                log.debug("realtime: %s/%s lost (%s)", machine, instance, type(error).__name__)
            if on_status is not None:
                on_status("reconnecting")
            attempt += 1
            await asyncio.sleep(min(_backoff(attempt), max_backoff))


async def _ping(connection: ClientConnection, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await connection.send(json.dumps({"type": "ping"}))


def _path(request: httpx.Request) -> str:
    """The path and query sent, as sent (percent-encoded: a name cannot forge a line)."""
    return request.url.raw_path.decode("ascii", "replace")


class _NestedTooDeep(ValueError):
    """JSON nested past what Python's parser reads (about 900 levels, less the caller's
    stack): valid JSON, but not readable here."""


def _json(data: str | bytes) -> Any:
    """JSON from a server, as ValueError when it is not or cannot be read (nested past
    Python's recursion limit: 200,000 `[` raised RecursionError)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise _NestedTooDeep("JSON nested too deep") from None


def _realtime_message(raw: str | bytes) -> InstanceUpdate | None:
    try:
        message = _json(raw)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if message.get("type") == "instance-update":
        try:
            return InstanceUpdate.model_validate(message)
        except ValidationError:
            return None
    if message.get("type") == "error":
        status = message.get("status")
        error = message.get("error") if isinstance(message.get("error"), str) else None
        code = message.get("code") if isinstance(message.get("code"), str) else None
        raise error_for(status if isinstance(status, int) else 400, error, code)
    return None


def _redact(text: str, response: httpx.Response) -> str:
    """A server's text without our bearer token in it, should the server echo it."""
    token = response.request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return text.replace(token, "<token>") if len(token) >= 8 else text


def _checked_base_url(base_url: str) -> str:
    """The base URL without a trailing slash, or ConfigurationError (never holding a token)."""
    try:
        url = httpx.URL(base_url)
        port = url.port  # a port that is not a number raises here
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ConfigurationError(f"{base_url!r} is not a URL; use https://host[:port]") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"{base_url!r} is not an http(s) URL with a host")
    if url.query or url.fragment or "#" in base_url or "?" in base_url:
        raise ConfigurationError(f"{base_url!r} has a query or fragment; give only the base URL")
    if port is not None and not 0 < port < 65536:
        raise ConfigurationError(f"{base_url!r} has a port out of range")
    return base_url.rstrip("/")


def _made(body: Any, key: str) -> str:
    if not isinstance(body, dict) or not isinstance(body.get(key), str):
        raise ProtocolError(f"the server's answer to a deploy has no {key}")
    return str(body[key])


def _versions_path(machine: str) -> str:
    return f"/machines/{check_slug(machine, 'machine')}/v"


def _instances_path(machine: str) -> str:
    return f"/machines/{check_slug(machine, 'machine')}/i"


def _instance_path(machine: str, instance: str) -> str:
    return f"{_instances_path(machine)}/{check_slug(instance, 'instance')}"


def _events_path(machine: str, instance: str) -> str:
    return _instance_path(machine, instance) + "/events"


def _model(kind: type[M], body: Any) -> M:
    try:
        return kind.model_validate(body)
    except ValidationError as error:
        raise ProtocolError(
            f"the server's answer is not a {kind.__name__} as the State Backed API sends it"
            f" ({error.error_count()} problem(s)); check the URL"
        ) from None


@cache
def _page_of(kind: type[T]) -> type[Page[T]]:
    return Page[kind]  # type: ignore[valid-type]  # pydantic looks it up anew each time


@cache
def _items(kind: type[T]) -> TypeAdapter[list[T]]:
    return TypeAdapter(list[kind])  # type: ignore[valid-type]


def _setting_when_sent(
    sent: asyncio.Future[None],
) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """httpx's `trace` extension, setting `sent` once a request's body has gone out."""

    async def trace(name: str, info: dict[str, Any]) -> None:
        if name.endswith("send_request_body.complete"):
            mark_sent(sent)

    return trace


class _Followed:
    """The cursors a walk has followed: one seen before, or more than MAX_EMPTY_PAGES empty
    pages in a row, would be followed for ever."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.empty = 0

    def check(self, cursor: str, empty_page: bool) -> None:
        """Note `cursor`, the one after a page (empty or not); raise if it goes nowhere."""
        if cursor in self.seen:
            raise RepeatedCursor()
        self.empty = self.empty + 1 if empty_page else 0
        if self.empty > MAX_EMPTY_PAGES:
            raise EmptyPages()
        self.seen.add(cursor)


# A list's answer ending `,"cursor":"…"}`: in valid JSON that closing brace is the
# top-level object's, so the string before it is that object's "cursor" (the last one,
# as json.loads keeps). The parsed answer is still checked against it.
_CURSOR_AT_END = re.compile(rb'[,{]\s*"cursor"\s*:\s*"([^"\\\x00-\x1f]{1,2048})"\s*}\s*\Z')


def _cursor_at_end(body: bytes) -> str | None:
    # Only the last `"cursor"` can start a match (a cursor holds no quote): looked for
    # from there, not tried at each of the last 2,200 bytes (13.5 us a page -> 1 us).
    key = body.rfind(b'"cursor"', max(0, len(body) - 2200))
    start = key - 1
    while start >= 0 and body[start] in b" \t\n\r\f\v":
        start -= 1
    found = _CURSOR_AT_END.match(body, start) if key >= 0 and start >= 0 else None
    if found is None:
        return None
    try:
        return found.group(1).decode()
    except UnicodeDecodeError:
        return None


def _cursor(body: Any) -> str | None:
    cursor = body.get("cursor") if isinstance(body, dict) else None
    return cursor if isinstance(cursor, str) and cursor else None


def _page(body: Any, key: str, kind: type[T]) -> Page[T]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise ProtocolError(f"the server's answer has no {key!r} list; check the URL")
    try:
        if kind is Transition:
            items: Sequence[Any] = _transitions(body[key])
        else:
            items = _items(kind).validate_python(body[key])  # one call a page, not an item
    except ValidationError as error:
        raise ProtocolError(
            f"the server's answer is not a list of {kind.__name__} as the State Backed API"
            f" sends it ({error.error_count()} problem(s)); check the URL"
        ) from None
    # Built, not validated again: pydantic would walk the items just validated.
    return _page_of(kind).model_construct(items=items, cursor=_cursor(body))


_ONE_TRANSITION = TypeAdapter(Transition)


def _transitions(items: list[Any]) -> Transitions:
    """A page of transitions, each checked to be one (ValidationError if one is not), and
    kept as sent: a model is made of each only when asked for. The usual one (`createdAt`
    and a `state` that are strings, an `event` that is a string or an object) is checked
    here; any other is validated by pydantic, and kept as it reads it."""
    records: list[dict[str, Any]] = []
    for item in items:
        if (
            item.__class__ is dict
            and item.get("createdAt").__class__ is str
            and item.get("state").__class__ is str
            and item.get("event").__class__ in (str, dict)
        ):
            records.append(item)
            continue
        model = _ONE_TRANSITION.validate_python(item)  # raises for what is no transition
        record = {k: v for k, v in item.items() if k not in ("createdAt", "created_at")}
        record.update(createdAt=model.created_at, event=model.event, state=model.state)
        records.append(record)
    return Transitions(records)


__all__ = ["ApiError", "Reconnected", "StateBackedClient", "delete_confirmation"]
