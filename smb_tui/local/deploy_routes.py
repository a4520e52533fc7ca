"""The HTTP routes of deploying (`deploy.Deployments`): machines, versions, migrations,
the upload URL, and `GET /health`."""

import json
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from smb_tui.api.models import ErrorBody
from smb_tui.local.definitions import SLUG_PATTERN
from smb_tui.local.deploy import MAX_UNZIPPED, UPLOAD_PATH, Deployments
from smb_tui.local.service import ApiError

FORM_SLACK = 64 * 1024  # the form's fields and boundaries around the bundle
MAX_UPLOAD_BODY = MAX_UNZIPPED + FORM_SLACK
# No `from __future__ import annotations` here: FastAPI reads these annotations at run time.
MachineSlug = Annotated[str, Path(pattern=SLUG_PATTERN, description="The machine's slug")]


class CreateMachine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(pattern=SLUG_PATTERN)
    indexes: list[Annotated[str, Field(pattern=SLUG_PATTERN)]] | None = None


class DeleteMachine(BaseModel):
    dangerDataWillBeDeletedForever: Literal[True]
    hmacSha256OfMachineNameWithMachineNameKey: str


class FinalizeVersion(BaseModel):
    clientInfo: str | None = Field(default=None, max_length=1000)
    makeCurrent: bool = False
    indexSelectors: dict[str, str] | None = None


class ProvisionalVersion(BaseModel):
    machineVersionId: str
    codeUploadUrl: str
    codeUploadFields: dict[str, str]


class ProvisionalMigration(BaseModel):
    machineVersionMigrationId: str
    codeUploadUrl: str
    codeUploadFields: dict[str, str]


class VersionMade(BaseModel):
    machineVersionId: str


class MigrationMade(BaseModel):
    machineVersionMigrationId: str


def _answers(model: type[BaseModel] | None, *statuses: int) -> dict[str, Any]:
    described = {
        400: "A parameter is wrong, the bundle does not load or is past a limit",
        403: "No valid token, or `missing-scope`",
        404: "No such machine",
        409: "`invalid-state`: the machine exists, or still has instances",
    }
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody, "description": described[status]}
        for status in (400, 403, 404, *statuses)
    }
    if model is not None:
        responses[200] = {"model": model}
    return {"response_model": None, "responses": responses}


def add_deploy_routes(app: FastAPI, deployments: Deployments, deployer: Any) -> None:
    """`deployer`: the dependency that admits an admin token."""

    @app.post(
        "/machines",
        status_code=201,
        summary="Create a machine",
        response_class=Response,  # 201 with no body
        **_answers(None, 409),
    )
    async def create_machine(body: CreateMachine, _: deployer) -> Response:
        deployments.create_machine(body.slug, body.indexes or [])
        return Response(status_code=201)

    @app.delete(
        "/machines/{machineSlug}",
        status_code=204,
        summary="Delete a machine (one with no instances)",
        **_answers(None, 409),
    )
    async def delete_machine(
        machineSlug: MachineSlug, body: DeleteMachine, _: deployer
    ) -> Response:
        deployments.delete_machine(machineSlug, body.hmacSha256OfMachineNameWithMachineNameKey)
        return Response(status_code=204)

    @app.post(
        "/machines/{machineSlug}/v",
        summary="Provisionally create a machine version: its id and where to upload its code",
        **_answers(ProvisionalVersion),
    )
    async def provisional_version(
        request: Request, machineSlug: MachineSlug, _: deployer, gzip: str | None = None
    ) -> JSONResponse:
        # The body is empty (smply sends `content-type: application/json` with none).
        return JSONResponse(deployments.provisional(machineSlug, "version", str(request.base_url)))

    @app.put(
        "/machines/{machineSlug}/v/{signedMachineVersionId}",
        summary="Finalize a machine version once its code is uploaded",
        **_answers(VersionMade),
    )
    async def finalize_version(
        machineSlug: MachineSlug,
        signedMachineVersionId: Annotated[str, Path(max_length=200)],
        body: FinalizeVersion,
        _: deployer,
    ) -> JSONResponse:
        made = await deployments.finalize_version(
            machineSlug,
            signedMachineVersionId,
            body.clientInfo or "",
            body.makeCurrent,
            body.indexSelectors,
        )
        return JSONResponse({"machineVersionId": made})

    @app.post(
        "/machines/{machineSlug}/migrations",
        summary="Provisionally create a migration between two versions",
        **_answers(ProvisionalMigration),
    )
    async def provisional_migration(
        request: Request, machineSlug: MachineSlug, _: deployer, gzip: str | None = None
    ) -> JSONResponse:
        # The official client also sends the code here (`gzippedCode`, an object of byte
        # indices); the upload is what counts.
        body = await _json_object(request)
        made = deployments.provisional(
            machineSlug,
            "migration",
            str(request.base_url),
            _text(body.get("fromMachineVersionId"), "fromMachineVersionId"),
            _text(body.get("toMachineVersionId"), "toMachineVersionId"),
        )
        return JSONResponse(made)

    @app.put(
        "/machines/{machineSlug}/migrations/{signedMachineVersionMigrationId}",
        summary="Finalize a migration once its code is uploaded",
        **_answers(MigrationMade),
    )
    async def finalize_migration(
        machineSlug: MachineSlug,
        signedMachineVersionMigrationId: Annotated[str, Path(max_length=200)],
        _: deployer,
    ) -> JSONResponse:
        made = await deployments.finalize_migration(machineSlug, signedMachineVersionMigrationId)
        return JSONResponse({"machineVersionMigrationId": made})

    @app.post(UPLOAD_PATH + "{token}", status_code=204, include_in_schema=False)
    async def upload(request: Request, token: str) -> Response:
        """The code upload URL: a form, no Authorization header (as S3's presigned POST).
        Its body is capped at MAX_UPLOAD_BODY as it comes (`body_limit.py`)."""
        try:
            async with request.form(max_files=1, max_fields=50, max_part_size=64 * 1024) as form:
                file = form.get("file")
                if not isinstance(file, UploadFile):
                    raise ApiError(400, "the form has no `file`", "invalid-parameter", "file")
                data = await file.read(MAX_UNZIPPED + 1)
                fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        except ApiError:
            raise
        except Exception as error:  # python-multipart's refusals
            raise ApiError(400, f"the upload is not a form this server reads: {error}") from error
        deployments.upload(token, fields, data)
        return Response(status_code=204)

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        """For scripts and CI: the server is up and answering (no token needed)."""
        return JSONResponse({"status": "ok"})


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise ApiError(400, "the request body is not valid JSON", "invalid-parameter") from error
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid-parameter")
    return body


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name} is required", "invalid-parameter", name)
    return value
