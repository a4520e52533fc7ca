"""Overlapping a request with the work that comes before its answer is needed.

`started(call)` runs one of the client's calls in a task of its own and returns once
its request has gone out whole, so that what the caller does next (checking a page,
drawing it) runs while the server works on the request. The client learns which
request to watch from a context variable, which a task copies when it is created.
`asking_ahead(ask)` goes a step further for a reader of page after page: the client
tells `ask` a page's next cursor once that page's bytes are in, before it is parsed.
Small and free of httpx, so that the dashboard's core imports it without the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
V = TypeVar("V")

# Set by `started` for the task it makes; the client sets its result when the request
# that task sends has gone out.
request_sent: contextvars.ContextVar[asyncio.Future[None] | None] = contextvars.ContextVar(
    "smb_request_sent", default=None
)


# Set by `asking_ahead` for the tasks made meanwhile: the client's list calls in them
# pass each page's next cursor to it as soon as the page's bytes are in.
next_cursor_to: contextvars.ContextVar[Callable[[str], Awaitable[None]] | None] = (
    contextvars.ContextVar("smb_next_cursor_to", default=None)
)


def taken(var: contextvars.ContextVar[V | None]) -> V | None:
    """`var`'s value for the request about to be made, cleared from this task's context
    once read: a connection the request opens keeps the context it was opened in (its
    socket's callbacks run in it) as long as it is kept alive, and must not keep what a
    reader set there (an End's hook holds a whole history's rows)."""
    value = var.get()
    if value is not None:
        var.set(None)
    return value


@contextlib.contextmanager
def asking_ahead(ask: Callable[[str], Awaitable[None]]) -> Iterator[None]:
    """Tasks made in this block (and the tasks they make) tell `ask` the cursor of the
    page after each list page they fetch, before they parse that page."""
    token = next_cursor_to.set(ask)
    try:
        yield
    finally:
        next_cursor_to.reset(token)


def mark_sent(sent: asyncio.Future[None]) -> None:
    """Say that the request `sent` stands for has gone out (once; later calls do nothing)."""
    if not sent.done():
        sent.set_result(None)


async def started(call: Awaitable[T]) -> asyncio.Future[T]:
    """`call` in a task of its own, returned once its request has gone out (or the call
    has ended first, as one that fails before sending does)."""
    sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    token = request_sent.set(sent)
    try:
        task = asyncio.ensure_future(call)  # with a copy of this context: `sent` in it
    finally:
        request_sent.reset(token)
    task.add_done_callback(lambda _: mark_sent(sent))
    try:
        await sent
    except BaseException:
        task.cancel()  # the caller was cancelled: so is its request
        raise
    return task
