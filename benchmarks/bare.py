"""The bare-stack reference: Starlette under uvicorn, as the local server runs them (h11,
the asyncio loop), answering a POST with a JSON body the size of a settled state after
reading the request's JSON. What no server on this stack can beat.

    python benchmarks/bare.py PORT
"""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATE = json.dumps(
    {"ts": 1, "state": "counting", "publicContext": {"count": 1}, "tags": [], "done": False}
)


async def answer(request: Request) -> Response:
    json.loads(await request.body())
    return Response(STATE, media_type="application/json")


app = Starlette(routes=[Route("/machines/{m}/i/{i}/events", answer, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="h11", log_level="warning")
