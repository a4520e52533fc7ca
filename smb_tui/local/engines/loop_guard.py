"""Stopping python machine code that holds the server's loop.

Python machines run in the server's process, on its event loop: an action that looped for
ever held every request, and SIGTERM too, for good (only kill -9 ended the server). While
a guarded call runs (`watching()`), a watchdog thread asks that loop to take a turn every
tenth of a second. Once the loop's thread has spent CPU_SECONDS of CPU time without taking
one, and the thread is inside a guarded function (its frame on the thread's stack), the
watchdog raises `HeldTooLong` in that thread (CPython's PyThreadState_SetAsyncExc), which
the guarded function turns into the engine's `machine-cpu-limit` failure.

CPU time, as the XState engine counts it: machine code that waits (time.sleep) is not
stopped, and code inside one long C call (a huge regex) only once that call returns. The
server's own work that holds the loop is never interrupted: its stack holds no guarded
frame. An async invoked service runs in a task of its own, under python-statemachine's
runner, which the engine marks guarded: the task ends with HeldTooLong, which the event
waiting for it raises. (A plain-function service runs in a thread of the library's
executor, off the loop: it holds no request, and is left to run.)
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import CodeType
from typing import TypeVar

CPU_SECONDS = 1.0  # as the XState engine's limit for one event
TICK_SECONDS = 0.1
_HAS_THREAD_CLOCKS = hasattr(time, "pthread_getcpuclockid")

F = TypeVar("F", bound=Callable[..., object])


class HeldTooLong(BaseException):
    """Raised in machine code that held its loop for CPU_SECONDS. Not an Exception: no
    `except Exception` on its way (python-statemachine makes those error.execution
    events, which a chart may take and go on) stops it before the guarded function."""


@dataclass
class _Watched:
    """One loop's thread, while guarded calls run in it."""

    loop: asyncio.AbstractEventLoop | None
    clock: int  # the thread's CPU-time clock
    calls: int = 0  # guarded calls running in it (a loop interleaves several)
    turned_at: float = 0.0  # the thread's CPU time when its loop last took a turn
    asked: bool = False  # a turn asked for, not yet taken


_guarded: set[CodeType] = set()
_watched: dict[int, _Watched] = {}
_lock = threading.Lock()
_busy = threading.Event()  # set while guarded calls may run
_watchdog: threading.Thread | None = None


def guarded(function: F) -> F:
    """Mark `function` as one whose frame, on a loop's stack, means machine code holds it."""
    _guarded.add(function.__code__)
    return function


class _Watching:
    """`with watching():` watch this thread's loop while the block runs (a guarded
    function's body). A class, not a generator: two or three of these an event."""

    def __enter__(self) -> None:
        ident = threading.get_ident()
        watched = _watched.get(ident)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # no loop to take turns: CPU_SECONDS from the first call, in all
        if watched is None or watched.loop is not loop:
            with _lock:
                watched = _watched[ident] = _Watched(loop, time.pthread_getcpuclockid(ident))
        if not watched.calls:
            watched.turned_at, watched.asked = time.thread_time(), False
        watched.calls += 1
        if not _busy.is_set():  # the watchdog clears it when it finds nothing to watch
            _busy.set()
            _start_watchdog()

    def __exit__(self, *_: object) -> None:
        watched = _watched.get(threading.get_ident())
        if watched is not None and watched.calls:
            watched.calls -= 1


_WATCHING = _Watching()


def watching() -> AbstractContextManager[None]:
    """Watch this thread's loop while the block runs (a guarded function's body)."""
    return _WATCHING if _HAS_THREAD_CLOCKS else nullcontext()


def _start_watchdog() -> None:
    global _watchdog
    if _watchdog is None or not _watchdog.is_alive():
        _watchdog = threading.Thread(target=_watch, name="smb-machine-watchdog", daemon=True)
        _watchdog.start()


def _watch() -> None:
    while True:
        _busy.wait()
        time.sleep(TICK_SECONDS)
        with _lock:
            # Cleared first, then looked at: a call that starts meanwhile sets it again.
            _busy.clear()
            for ident, watched in list(_watched.items()):
                if watched.calls:
                    _busy.set()
                    _check(ident, watched)
                elif watched.loop is None or watched.loop.is_closed():
                    del _watched[ident]  # its server has stopped


def _check(ident: int, watched: _Watched) -> None:
    """Under the lock: ask `watched`'s loop for a turn, or stop what holds it."""
    try:
        spent = time.clock_gettime(watched.clock) - watched.turned_at
    except OSError:  # the thread has ended
        del _watched[ident]
        return
    if spent >= CPU_SECONDS and _in_guarded(ident):
        import ctypes  # here: 5 ms of the server's start-up, for what few events ever need

        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(ident), ctypes.py_object(HeldTooLong)
        )
        watched.turned_at += spent  # once a limit's worth: not again while it unwinds
    elif not watched.asked and watched.loop is not None:
        watched.asked = True
        try:
            watched.loop.call_soon_threadsafe(_turned, watched)
        except RuntimeError:  # the loop has closed
            del _watched[ident]


def _turned(watched: _Watched) -> None:
    """On the loop: it took a turn."""
    with _lock:
        watched.turned_at, watched.asked = time.thread_time(), False


def _in_guarded(ident: int) -> bool:
    frame = sys._current_frames().get(ident)
    while frame is not None:
        if frame.f_code in _guarded:
            return True
        frame = frame.f_back
    return False
