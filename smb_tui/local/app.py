"""The local server's HTTP and WebSocket surface, shaped as `statebacked-api.md` says.

FastAPI earns its place here by writing `/openapi.json` from the routes; every error,
its own validation errors included, leaves as State Backed's `{error, code, parameter}`.

Why one module of ~680 lines: FastAPI's dependencies (the principal, the scopes) close
over one server's key and organizations, so the routes are declared inside `create_app`;
the request models and the OpenAPI helpers above it are what the routes declare. The
realtime session, the cursors and the service are modules of their own. Per-resource
routers are the next step if it grows.
"""

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Header, Path, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from smb_tui.api.models import (
    STOPPED_SERVICES_HEADER,
    AdministrativeInstanceState,
    ErrorBody,
    IndexPage,
    InstancesPage,
    Logs,
    MachineBody,
    MachinesPage,
    State,
    StatechartDefinition,
    TokenResponse,
    TransitionsPage,
    VersionsPage,
)
from smb_tui.local.auth import (
    TOKEN_EXCHANGE_GRANT,
    AuthError,
    LocalKey,
    Principal,
    VerifiedTokens,
    anonymous_audience,
    exchange_anonymous,
    without_sender,
)
from smb_tui.local.body_limit import JSON_BODY_LIMIT, BodyLimit
from smb_tui.local.cursors import Cursors
from smb_tui.local.definitions import JSON, SLUG, SLUG_PATTERN
from smb_tui.local.deploy import Deployments
from smb_tui.local.deploy_routes import MAX_UPLOAD_BODY, add_deploy_routes
from smb_tui.local.identity import Identity
from smb_tui.local.identity_routes import add_identity_routes
from smb_tui.local.plain_json import NotPlainJson, plain_json
from smb_tui.local.realtime import realtime_session, refused_session
from smb_tui.local.service import ApiError, LocalService
from smb_tui.local.store import iso_us, log_time

log = logging.getLogger(__name__)

MachineSlug = Annotated[str, Path(pattern=SLUG_PATTERN, description="The machine's slug")]
InstanceSlug = Annotated[str, Path(pattern=SLUG_PATTERN, description="The instance's slug")]
Cursor = Annotated[str | None, Query(description="A cursor from the previous page")]
MAX_LOGS = 100
# The first part of paths State Backed serves that the local server leaves out: keys,
# orgs, users.
STATE_BACKED_ONLY = frozenset({"keys", "orgs", "users"})


class CreateInstance(BaseModel):
    model_config = ConfigDict(extra="ignore")  # as State Backed: extra fields tolerated
    slug: str = Field(pattern=SLUG_PATTERN)
    context: dict[str, Any] | None = None
    machineVersionId: str | None = None


class EventObject(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1)


class SendEvent(BaseModel):
    event: str | EventObject


class SetStatus(BaseModel):
    status: Literal["running", "paused"]


class SetDesiredVersion(BaseModel):
    targetMachineVersionId: str = Field(min_length=1)


class CopyInstance(BaseModel):
    """A copy of an instance kept elsewhere (smb-tui local only)."""

    model_config = ConfigDict(extra="allow")
    state: Any  # a state value, as the API shows it
    context: dict[str, Any] = Field(default_factory=dict)  # the whole context (admin view)
    machineVersionId: str | None = None
    copiedFrom: str = Field(default="", max_length=2000)  # where the original lives, said


class ReplayRequest(BaseModel):
    """A recorded history to replay (smb-tui local only): rows oldest first (or newest
    first: the creation row says which), as `smb-tui export history` writes them."""

    history: list[dict[str, Any]] = Field(max_length=1_000_000)
    context: dict[str, Any] = Field(default_factory=dict)


class ReplayReport(BaseModel):
    rows: int
    agrees: bool
    divergences: list[dict[str, Any]]


class DeleteInstance(BaseModel):
    dangerDataWillBeDeletedForever: Literal[True]
    hmacSha256OfMachineInstanceNameWithMachineNameKey: str


_ERRORS = {
    400: "A parameter is wrong (`parameter` names it), or `specify-org`",
    403: "No valid token, or `missing-scope`, `missing-user`, `missing-org`,"
    " `rejected-by-machine-authorizer`",
    404: "No such machine, instance or index",
    409: "`invalid-state`: the instance exists already, or is paused",
    413: "The request body is over 4 MB (10 MB and its form for an upload); nothing was"
    " read past that",
    500: "`machine-error`: the machine's code failed, or `machine-cpu-limit`,"
    " `machine-memory-limit`: it went past a limit; nothing was stored",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route gives, each `{error, code?, parameter?}`."""
    return {
        status: {"model": ErrorBody, "description": _ERRORS[status]}
        for status in (400, 403, 413, *statuses)
    }


def _answers(model: type[BaseModel], *statuses: int, **success: Any) -> dict[str, Any]:
    """FastAPI route arguments: what a route answers, documented, and bodies as built."""
    return {
        "response_model": None,
        "responses": {200: {"model": model, **success}, **_errors(*statuses)},
    }


SETTLED = {
    "headers": {
        STOPPED_SERVICES_HEADER: {
            "description": "Not in State Backed's API: the services stopped at the settle"
            " time-out, each percent-encoded (UTF-8), comma-separated (empty: the instance"
            " settled)",
            "schema": {"type": "string"},
        }
    }
}


TOKEN_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["grant_type", "audience", "subject_token"],
                "properties": {
                    "grant_type": {"type": "string", "enum": [TOKEN_EXCHANGE_GRANT]},
                    "audience": {"type": "string", "description": anonymous_audience("<org id>")},
                    "subject_token": {
                        "type": "string",
                        "description": "The anonymous session JWT the client made",
                    },
                    "subject_token_type": {"type": "string"},
                    "requested_token_type": {"type": "string"},
                },
            }
        }
    },
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document without its 422s: every invalid request is a 400 here."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for path in document["paths"].values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = document
    return app.openapi_schema


def _error(
    status: int, error: str, code: str | None = None, parameter: str | None = None
) -> JSONResponse:
    return JSONResponse(ApiError(status, error, code, parameter).body(), status_code=status)


class UnexpectedErrors:
    """Unexpected errors become JSON 500s here, inside the app. A handler for Exception
    is Starlette's outermost middleware, which re-raises after answering, and uvicorn
    then resets the keep-alive connection: the client's next POST on it failed, and could
    not know whether it had been applied. (Plain ASGI: BaseHTTPMiddleware halved
    events/s.)"""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as error:
            if started:
                raise
            if isinstance(error, RecursionError):  # JSON nested thousands deep
                answer = _error(400, "the request is nested too deeply", "invalid-parameter")
            else:
                log.exception("unexpected error")
                answer = _error(500, "the local server failed; see its output")
            await answer(scope, receive, send)


def _page(name: str, items: list[dict[str, JSON]], cursor: str | None) -> dict[str, JSON]:
    body: dict[str, JSON] = {name: items}
    if cursor:
        body["cursor"] = cursor
    return body


_NO_BODY = object()


async def _json_body(request: Request) -> Any:
    """A request's body as FastAPI reads a JSON body parameter: JSON where the content
    type says so, the bytes where it does not (validation then refuses them), and the
    same errors for what does not parse."""
    raw = await request.body()
    if not raw:
        return _NO_BODY
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    kind, _, subtype = media.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ]
        ) from error
    except Exception as error:  # too deep, not UTF-8: as FastAPI answers them
        raise StarletteHTTPException(400, "There was an error parsing the body") from error


def _timestamp(value: str, parameter: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso_us(moment.astimezone(UTC))
    except (ValueError, OverflowError) as error:
        raise ApiError(
            400, f"{parameter} must be an ISO-8601 time", "invalid-parameter", parameter
        ) from error


def create_app(
    service: LocalService,
    key: LocalKey,
    org_ids: frozenset[str],
    deployments: Deployments,
    cors_origins: tuple[str, ...] = ("*",),
) -> FastAPI:
    cursors = Cursors(key.secret)
    identity = Identity(service.store.connection, key, org_ids)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timers = asyncio.create_task(service.scheduler.run())
        service.delivery.wake()  # what a stopped server left to deliver
        yield
        timers.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timers

    app = FastAPI(
        title="smb-tui local State Backed server",
        version="1",
        description="A local server speaking the State Backed HTTP API.",
        lifespan=lifespan,
    )
    # Innermost of the layers (added first): its 413s pass CORS on the way out.
    app.add_middleware(BodyLimit, limit=JSON_BODY_LIMIT, upload_limit=MAX_UPLOAD_BODY)
    # The official client is made for web apps: a user's app in a browser may call us.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(cors_origins),
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[STOPPED_SERVICES_HEADER],
        max_age=600,
    )

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        location = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
        if first.get("type") == "json_invalid":
            return _error(400, "the request body is not valid JSON", "invalid-parameter", "body")
        if location[:2] == ["body", "event"]:
            return _error(
                400,
                "event must be a string (its type) or an object with a non-empty string `type`",
                "invalid-parameter",
                "event",
            )
        parameter = location[-1] if location else "body"
        return _error(
            400, f"{parameter}: {first.get('msg', 'invalid')}", "invalid-parameter", parameter
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:  # FastAPI could not parse the body (too deep, say)
            message = f"the request body could not be read: {error.detail}"
            return _error(400, message, "invalid-parameter", "body")
        answer = _error(error.status_code, str(error.detail))
        answer.headers.update(error.headers or {})  # a 405's Allow
        return answer

    @app.exception_handler(NotPlainJson)
    async def not_plain_json(request: Request, error: NotPlainJson) -> JSONResponse:
        parameter = error.path.split(".")[0].split("[")[0]
        return _error(400, f"{error}; nothing was changed", "invalid-parameter", parameter)

    app.add_middleware(UnexpectedErrors)

    verified = VerifiedTokens(key)

    def principal_from(token: str, org_header: str | None, act_header: str | None) -> Principal:
        try:
            principal = verified.verify(token)
        except AuthError as error:
            raise ApiError(403, str(error)) from error
        if org_header is not None and org_header not in org_ids:
            raise ApiError(403, f"the token has no access to org {org_header!r}", "missing-org")
        if principal.anonymous and principal.org_id not in org_ids:
            raise ApiError(
                403, "the anonymous token names no org this server serves", "missing-org"
            )
        if org_header is None and len(org_ids) > 1 and not principal.anonymous:
            raise ApiError(
                400, "this key can act in several orgs: send x-statebacked-org-id", "specify-org"
            )
        if act_header is not None:
            if principal.anonymous:
                raise ApiError(
                    403, "an anonymous token cannot act as another user", "missing-scope"
                )
            try:
                acting = plain_json(json.loads(act_header), "x-statebacked-act")
            except NotPlainJson:
                raise
            except (ValueError, RecursionError) as error:
                raise ApiError(
                    400,
                    "x-statebacked-act must be a JSON object",
                    "invalid-parameter",
                    "x-statebacked-act",
                ) from error
            if not isinstance(acting, dict):
                raise ApiError(
                    400,
                    "x-statebacked-act must be a JSON object",
                    "invalid-parameter",
                    "x-statebacked-act",
                )
            principal = Principal(without_sender(acting), principal.scopes, False, principal.org_id)
        return principal

    bearer = HTTPBearer(
        auto_error=False,
        description="A HS256 JWT signed with the server's key (as `@statebacked/token` makes"
        " them), or an access token from `POST /tokens`",
    )

    # Both dependencies are `async def`: FastAPI runs a plain `def` in a thread, a hop
    # that cost more than the work.
    async def authenticate(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        x_statebacked_org_id: Annotated[
            str | None, Header(description="The org to act in, for keys of several orgs")
        ] = None,
        x_statebacked_act: Annotated[
            str | None,
            Header(description="An admin key acting as an end user: their auth context, JSON"),
        ] = None,
    ) -> Principal:
        if credentials is None:
            raise ApiError(403, "send Authorization: Bearer <token>")
        return principal_from(credentials.credentials, x_statebacked_org_id, x_statebacked_act)

    def scoped(scope: str) -> Callable[..., Awaitable[Principal]]:
        async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
            if scope not in principal.scopes:
                raise ApiError(403, f"this token lacks the {scope} scope", "missing-scope")
            return principal

        return check

    User = Annotated[Principal, Depends(authenticate)]
    Admin = Annotated[Principal, Depends(scoped("instances.admin"))]
    MachinesReader = Annotated[Principal, Depends(scoped("machines.read"))]
    LogsReader = Annotated[Principal, Depends(scoped("logs.read"))]
    IndexReader = Annotated[Principal, Depends(scoped("indexes.read"))]

    @app.get("/machines", summary="List machines", **_answers(MachinesPage))
    async def list_machines(
        request: Request, _: MachinesReader, cursor: Cursor = None
    ) -> JSONResponse:
        page = service.list_machines(cursors.open(request, cursor))
        return JSONResponse(_page("machines", page.items, cursors.seal(request, page.cursor)))

    @app.get("/machines/{machineSlug}", summary="Read a machine", **_answers(MachineBody, 404))
    async def read_machine(machineSlug: MachineSlug, _: MachinesReader) -> JSONResponse:
        return JSONResponse({"machine": service.machine_body(machineSlug)})

    @app.get(
        "/machines/{machineSlug}/v",
        summary="List a machine's versions",
        **_answers(VersionsPage, 404),
    )
    async def list_versions(
        request: Request, machineSlug: MachineSlug, _: MachinesReader, cursor: Cursor = None
    ) -> JSONResponse:
        page = service.list_versions(machineSlug, cursors.open(request, cursor))
        return JSONResponse(_page("versions", page.items, cursors.seal(request, page.cursor)))

    @app.get(
        "/machines/{machineSlug}/v/{versionId}/definition",
        summary="Read a version's statechart (smb-tui local only)",
        description="The states and transitions of a version (`current`: the machine's"
        " current one), as smb-tui's chart draws them. State Backed has no such route.",
        **_answers(StatechartDefinition, 404),
    )
    async def read_definition(
        machineSlug: MachineSlug, versionId: str, _: MachinesReader
    ) -> JSONResponse:
        return JSONResponse(await service.version_definition(machineSlug, versionId))

    @app.post(
        "/machines/{machineSlug}/v/{versionId}/replay",
        summary="Replay a history against a version (smb-tui local only)",
        description="The recorded events applied in order, from the creation, to the"
        " version's code with no service, spawned actor or timer run (their outcomes are the"
        " history's events), each recorded state compared with the replayed one.",
        **_answers(ReplayReport, 400, 404),
    )
    async def replay_history(
        machineSlug: MachineSlug, versionId: str, body: ReplayRequest, _: Admin
    ) -> JSONResponse:
        context = plain_json(body.context, "context")
        history = plain_json(body.history, "history")
        report = await service.replay_history(machineSlug, versionId, history, context)
        return JSONResponse(report)

    @app.get(
        "/machines/{machineSlug}/i",
        summary="List a machine's instances",
        **_answers(InstancesPage, 404),
    )
    async def list_instances(
        request: Request, machineSlug: MachineSlug, _: Admin, cursor: Cursor = None
    ) -> JSONResponse:
        page = service.list_instances(machineSlug, cursors.open(request, cursor))
        return JSONResponse(_page("instances", page.items, cursors.seal(request, page.cursor)))

    @app.post(
        "/machines/{machineSlug}",
        summary="Create an instance",
        **_answers(State, 404, 409, 500, **SETTLED),
    )
    async def create_instance(
        machineSlug: MachineSlug, body: CreateInstance, principal: User
    ) -> JSONResponse:
        context = plain_json(body.context or {}, "context")
        answer = await service.create_instance(
            principal, machineSlug, body.slug, context, body.machineVersionId
        )
        return JSONResponse(answer.body, headers={STOPPED_SERVICES_HEADER: answer.stopped_header})

    @app.get(
        "/machines/{machineSlug}/i/{instanceSlug}",
        summary="Read an instance's state",
        **_answers(State, 404),
    )
    async def read_instance(
        machineSlug: MachineSlug, instanceSlug: InstanceSlug, principal: User
    ) -> JSONResponse:
        return JSONResponse(await service.read_instance(principal, machineSlug, instanceSlug))

    @app.get(
        "/machines/{machineSlug}/i/{instanceSlug}/admin",
        summary="Admin read",
        **_answers(AdministrativeInstanceState, 404),
    )
    async def admin_read(
        machineSlug: MachineSlug, instanceSlug: InstanceSlug, _: Admin
    ) -> JSONResponse:
        definition, row = service.instance(machineSlug, instanceSlug)
        return JSONResponse(service.admin_body(definition, row))

    @app.post(
        "/machines/{machineSlug}/i/{instanceSlug}/events",
        summary="Send an event",
        **_answers(State, 404, 409, 500, **SETTLED),
    )
    async def send_event(
        machineSlug: MachineSlug,
        instanceSlug: InstanceSlug,
        body: SendEvent,
        principal: User,
    ) -> JSONResponse:
        # Declared for the OpenAPI document; requests are answered by `send_event_fast`,
        # which the router meets first and which answers exactly as this would.
        return await deliver(principal, machineSlug, instanceSlug, body)

    async def deliver(
        principal: Principal, machine: str, instance: str, body: SendEvent
    ) -> JSONResponse:
        event = {"type": body.event} if isinstance(body.event, str) else body.event.model_dump()
        event = plain_json(event, "event")
        if not event["type"]:
            raise ApiError(400, "event type must not be empty", "invalid-parameter", "event")
        answer = await service.send_event(principal, machine, instance, event)
        return JSONResponse(answer.body, headers={STOPPED_SERVICES_HEADER: answer.stopped_header})

    # The two routes every dashboard and client call most, answered without FastAPI's
    # per-request machinery (dependency solving, parameter and body resolution: a
    # quarter to a third of their time on the main thread). The same checks in the same
    # order raise the same errors, so the answers are those of the routes declared
    # above for the OpenAPI document (tests/local/test_event_route.py, case by case).

    def fast_principal(request: Request) -> Principal:
        """The `User` dependency, as FastAPI solves it before looking at parameters."""
        headers = request.headers
        scheme, token = get_authorization_scheme_param(headers.get("authorization"))
        if scheme.lower() != "bearer" or not token:
            raise ApiError(403, "send Authorization: Bearer <token>")
        return principal_from(
            token, headers.get("x-statebacked-org-id"), headers.get("x-statebacked-act")
        )

    def slug_errors(request: Request) -> list[dict[str, Any]]:
        return [
            {
                "type": "string_pattern_mismatch",
                "loc": ("path", name),
                "msg": f"String should match pattern '{SLUG_PATTERN}'",
                "input": request.path_params[name],
            }
            for name in ("machineSlug", "instanceSlug")
            if not SLUG.fullmatch(request.path_params[name])
        ]

    async def send_event_fast(request: Request) -> JSONResponse:
        raw = await _json_body(request)
        principal = fast_principal(request)
        errors = slug_errors(request)
        if raw is _NO_BODY:
            errors.append({"type": "missing", "loc": ("body",), "msg": "Field required"})
        else:
            try:
                body = SendEvent.model_validate(raw, from_attributes=True)  # as FastAPI
            except ValidationError as error:
                errors += [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        if errors:
            raise RequestValidationError(errors)
        params = request.path_params
        return await deliver(principal, params["machineSlug"], params["instanceSlug"], body)

    async def list_transitions_fast(request: Request) -> Response:
        principal = fast_principal(request)
        errors = slug_errors(request)
        if errors:
            raise RequestValidationError(errors)
        params = request.path_params
        return await transitions_answer(
            request,
            principal,
            params["machineSlug"],
            params["instanceSlug"],
            request.query_params.get("cursor"),
        )

    events = "/machines/{machineSlug}/i/{instanceSlug}/events"
    app.router.routes[:0] = [
        Route(events, send_event_fast, methods=["POST"]),
        Route(events, list_transitions_fast, methods=["GET"]),
    ]

    @app.get(
        "/machines/{machineSlug}/i/{instanceSlug}/events",
        summary="List transitions",
        **_answers(TransitionsPage, 404),
    )
    async def list_transitions(
        request: Request,
        machineSlug: MachineSlug,
        instanceSlug: InstanceSlug,
        principal: User,
        cursor: Cursor = None,
    ) -> Response:
        # Declared for the document; answered by `list_transitions_fast`.
        return await transitions_answer(request, principal, machineSlug, instanceSlug, cursor)

    async def transitions_answer(
        request: Request, principal: Principal, machine: str, instance: str, cursor: str | None
    ) -> Response:
        before = cursors.open(request, cursor)
        page = await service.list_transitions(principal, machine, instance, before)
        # The items are JSON text as stored: joined, never parsed and encoded again.
        body = '{"transitions":[' + ",".join(page.items) + "]"
        sealed = cursors.seal(request, page.cursor)
        if sealed:
            body += ',"cursor":' + json.dumps(sealed)
        return Response(body + "}", media_type="application/json")

    @app.put(
        "/machines/{machineSlug}/i/{instanceSlug}/status",
        status_code=204,
        summary="Pause or resume an instance",
        responses=_errors(404),
    )
    async def set_status(
        machineSlug: MachineSlug, instanceSlug: InstanceSlug, body: SetStatus, _: Admin
    ) -> Response:
        await service.set_status(machineSlug, instanceSlug, body.status)
        return Response(status_code=204)

    @app.put(
        "/machines/{machineSlug}/i/{instanceSlug}/v",
        status_code=201,
        response_class=Response,  # 201 with no body
        summary="Set the desired version",
        responses=_errors(404),
    )
    async def set_desired_version(
        machineSlug: MachineSlug,
        instanceSlug: InstanceSlug,
        body: SetDesiredVersion,
        _: Admin,
    ) -> Response:
        await service.set_desired_version(machineSlug, instanceSlug, body.targetMachineVersionId)
        return Response(status_code=201)

    @app.post(
        "/machines/{machineSlug}/i/{instanceSlug}/copy",
        summary="Make an instance at a given state (smb-tui local only)",
        description="A copy of an instance kept elsewhere, to try events on: the instance"
        " is made at `state` with `context` (nothing runs: no entry action, no service), its"
        ' first transition `{"type": "smb-tui.copy", "from": copiedFrom}`. State Backed has'
        " no such route.",
        **_answers(State, 400, 404, 409),
    )
    async def copy_instance(
        machineSlug: MachineSlug, instanceSlug: InstanceSlug, body: CopyInstance, _: Admin
    ) -> JSONResponse:
        state = plain_json(body.state, "state")
        context = plain_json(body.context, "context")
        answer = await service.copy_instance(
            machineSlug, instanceSlug, state, context, body.machineVersionId, body.copiedFrom
        )
        return JSONResponse(answer.body)

    @app.delete(
        "/machines/{machineSlug}/i/{instanceSlug}",
        status_code=204,
        summary="Delete an instance",
        responses=_errors(404),
    )
    async def delete_instance(
        machineSlug: MachineSlug, instanceSlug: InstanceSlug, body: DeleteInstance, _: Admin
    ) -> Response:
        await service.delete_instance(
            machineSlug, instanceSlug, body.hmacSha256OfMachineInstanceNameWithMachineNameKey
        )
        return Response(status_code=204)

    @app.get(
        "/machines/{machineSlug}/indexes/{index}/query",
        summary="Query an index",
        **_answers(IndexPage, 404),
    )
    async def query_index(
        request: Request,
        machineSlug: MachineSlug,
        index: Annotated[str, Path(pattern=SLUG_PATTERN)],
        _: IndexReader,
        op: Literal["eq", "ne", "gt", "gte", "lt", "lte"] | None = None,
        value: str | None = None,
        dir: Literal["asc", "desc"] = "asc",
        limit: Annotated[int, Query(ge=1, le=100)] = 100,
        cursor: Cursor = None,
    ) -> JSONResponse:
        service.check_index(machineSlug, index)  # 404s first, as before any 400
        if (op is None) != (value is None):
            # With neither, every instance in index order (as the official client says).
            raise ApiError(400, "give op and value together", "invalid-parameter", "value")
        after = cursors.open(request, cursor)
        page = service.query_index(
            machineSlug,
            index,
            None if op is None or value is None else (op, _index_query_value(value)),
            dir == "desc",
            tuple(after) if after is not None else None,
            limit,
        )
        return JSONResponse(_page("instances", page.items, cursors.seal(request, page.cursor)))

    @app.get("/logs", summary="Read what machine code printed", **_answers(Logs))
    async def read_logs(
        _: LogsReader,
        from_: Annotated[str, Query(alias="from")],
        to: str | None = None,
        machine: str | None = None,
        instance: str | None = None,
        version: str | None = None,
    ) -> JSONResponse:
        start = _timestamp(from_, "from")
        end = _timestamp(to, "to") if to is not None else None
        rows = service.read_logs(start, end, machine, instance, version, MAX_LOGS)
        logs = [
            {
                "timestamp": log_time(r["timestamp"]),
                "orgId": sorted(org_ids)[0],
                "machineName": r["machine"],
                "instanceName": r["instance"],
                "machineVersionId": r["version_id"],
                "outputType": r["output_type"],
                "log": r["log"],
            }
            for r in rows
        ]
        # Nothing new: `from` back as the official client writes it (its "caught up" test
        # compares the two as text), to the millisecond.
        return JSONResponse(
            {"maxTimestamp": logs[-1]["timestamp"] if logs else log_time(start), "logs": logs}
        )

    @app.post(
        "/tokens",
        summary="Exchange an anonymous session token",
        response_model=None,
        responses={200: {"model": TokenResponse}, **_errors()},
        openapi_extra={"requestBody": TOKEN_FORM},
    )
    async def tokens(request: Request) -> Response:
        # Form-encoded, as OAuth token exchange is; parsed here to spare a dependency.
        fields = {k: v[0] for k, v in parse_qs((await request.body()).decode("latin-1")).items()}
        try:
            if identity.serves(fields.get("audience", "")):  # a token provider's service
                return JSONResponse(await identity.exchange(fields))
            return JSONResponse(exchange_anonymous(fields, key, org_ids))
        except AuthError as error:
            status = 403 if error.code in ("missing-org", "unauthorized") else 400
            return _error(status, str(error), error.code)

    @app.websocket("/rt")
    async def realtime(websocket: WebSocket, token: str = "") -> None:
        await websocket.accept()
        try:
            principal = principal_from(
                token, websocket.query_params.get("x-statebacked-org-id"), None
            )
        except ApiError as error:
            await refused_session(websocket, error)
            return
        await realtime_session(websocket, service, principal)

    def not_supported(what: str) -> JSONResponse:
        return _error(
            501,
            f"{what} is part of State Backed's API, but the local server does not implement it",
            "not-supported-locally",
        )

    add_deploy_routes(app, deployments, Annotated[Principal, Depends(scoped("machines.write"))])
    add_identity_routes(app, identity, Annotated[Principal, Depends(scoped("tokens.admin"))])

    @app.api_route(
        "/{path:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"],
        include_in_schema=False,
    )
    async def elsewhere(request: Request, path: str) -> JSONResponse:
        """What State Backed has and this server does not: 501, said plainly. A method no
        HTTP API route takes here (OPTIONS, TRACE) on a path we serve: 405 with Allow."""
        allowed = sorted(
            method
            for route in app.routes
            if isinstance(route, APIRoute)
            and route.include_in_schema  # not this route
            and route.path_regex.fullmatch(request.url.path)
            for method in route.methods or ()
        )
        if allowed:
            answer = _error(405, f"/{path} answers only {', '.join(allowed)}")
            answer.headers["allow"] = ", ".join(allowed)
            return answer
        if path.split("/", 1)[0] in STATE_BACKED_ONLY:
            return not_supported(f"{request.method} /{path}")
        return _error(404, f"/{path} is no endpoint of the State Backed API")

    return app


def _index_query_value(value: str) -> JSON:
    """A number where the text is one (as a JavaScript machine holds it), else the text."""
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    if (
        number.is_integer()
        and abs(number) <= 2**53
        and "." not in value
        and "e" not in value.lower()
    ):
        return int(number)
    return number
