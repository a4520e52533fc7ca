"""The HTTP routes of identity providers and token providers (`identity.Identity`)."""

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from smb_tui.api.models import ErrorBody
from smb_tui.local.identity import Identity

# No `from __future__ import annotations` here: FastAPI reads these annotations at run time.


class UpsertIdentityProvider(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str | None = None
    jwksUrl: str | None = None
    aud: str | None = None
    iss: str | None = None
    algs: list[str]
    mapping: dict[str, Any]


class DeleteIdentityProvider(BaseModel):
    model_config = ConfigDict(extra="ignore")
    aud: str | None = None
    iss: str | None = None


class UpsertTokenProvider(BaseModel):
    model_config = ConfigDict(extra="ignore")
    keyId: str
    service: str
    mapping: dict[str, Any]


def _answers(*statuses: int) -> dict[str, Any]:
    described = {400: "A parameter is wrong", 403: "No valid token, or `missing-scope`"}
    return {
        "response_model": None,
        "responses": {
            status: {"model": ErrorBody, "description": described[status]}
            for status in (400, 403, *statuses)
        },
    }


def add_identity_routes(app: FastAPI, identity: Identity, admin: Any) -> None:
    """`admin`: the dependency that admits a token with `tokens.admin`."""

    @app.get("/idps", summary="List identity providers", **_answers())
    async def list_idps(_: admin) -> JSONResponse:
        return JSONResponse({"idps": [idp.wire() for idp in identity.idps()]})

    @app.post("/idps", status_code=204, summary="Upsert an identity provider", **_answers())
    async def upsert_idp(body: UpsertIdentityProvider, _: admin) -> Response:
        identity.upsert_idp(body.model_dump(exclude_none=True))
        return Response(status_code=204)

    @app.delete("/idps", status_code=204, summary="Delete an identity provider", **_answers())
    async def delete_idp(body: DeleteIdentityProvider, _: admin) -> Response:
        identity.delete_idp(body.model_dump(exclude_none=True))
        return Response(status_code=204)

    @app.get("/token-providers", summary="List token providers", **_answers())
    async def list_token_providers(_: admin) -> JSONResponse:
        return JSONResponse({"tokenProviders": identity.token_providers()})

    @app.post("/token-providers", status_code=204, summary="Upsert a token provider", **_answers())
    async def upsert_token_provider(body: UpsertTokenProvider, _: admin) -> Response:
        identity.upsert_token_provider(body.model_dump())
        return Response(status_code=204)

    @app.delete(
        "/token-providers/{service}",
        status_code=204,
        summary="Delete a token provider",
        **_answers(),
    )
    async def delete_token_provider(service: str, _: admin) -> Response:
        identity.delete_token_provider(service)
        return Response(status_code=204)
