"""The bare-stack references: Starlette under uvicorn, as the local server runs them (h11,
the asyncio loop), answering a POST with a JSON body the size of a settled state after
reading the request's JSON. What no server on this stack can beat.

With --fastapi, the same answer through a FastAPI route declared as the server declares
its events route (two slugs checked against their pattern, the body validated by the
same pydantic model, the bearer token and two headers as dependencies) and answering a
constant: the ceiling of the framework the server is written in.

    python benchmarks/bare.py PORT [--fastapi]
"""

import json
import sys
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI, Header
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smb_tui.local.app import InstanceSlug, MachineSlug, SendEvent

STATE = json.dumps(
    {"ts": 1, "state": "counting", "publicContext": {"count": 1}, "tags": [], "done": False}
)


async def answer(request: Request) -> Response:
    json.loads(await request.body())
    return Response(STATE, media_type="application/json")


def fastapi_app() -> FastAPI:
    app = FastAPI()
    bearer = HTTPBearer(auto_error=False)

    async def authenticate(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        x_statebacked_org_id: Annotated[str | None, Header()] = None,
        x_statebacked_act: Annotated[str | None, Header()] = None,
    ) -> str:
        return credentials.credentials if credentials else ""

    @app.post("/machines/{machineSlug}/i/{instanceSlug}/events")
    async def send_event(
        machineSlug: MachineSlug,
        instanceSlug: InstanceSlug,
        body: SendEvent,
        principal: Annotated[str, Depends(authenticate)],
    ) -> JSONResponse:
        return JSONResponse(json.loads(STATE))

    return app


if __name__ == "__main__":
    if "--fastapi" in sys.argv:
        app: Starlette = fastapi_app()
    else:
        app = Starlette(routes=[Route("/machines/{m}/i/{i}/events", answer, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="h11", log_level="warning")
