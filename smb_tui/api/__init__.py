"""The State Backed API client: models, errors, token sources, paging and realtime.

from smb_tui.api import KeyCredentials, StateBackedClient

async with StateBackedClient(KeyCredentials(key_id, secret, {"sub": "me"})) as client:
    async for transition in client.transitions("my-machine", "user-1234"):
        print(transition.event)

The names below are imported when first used (PEP 562): importing one module of the
package (the wire format, the errors) does not load the client, httpx and pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smb_tui.api.auth import AnonymousSession, KeyCredentials, StaticToken, TokenSource
    from smb_tui.api.client import (
        PRODUCTION_URL,
        Reconnected,
        StateBackedClient,
        delete_confirmation,
    )
    from smb_tui.api.errors import (
        ApiError,
        BadRequest,
        ConfigurationError,
        Conflict,
        ConnectionFailed,
        EmptyPages,
        Forbidden,
        InvalidParameter,
        InvalidSlug,
        InvalidState,
        MachineFailed,
        MissingOrg,
        MissingScope,
        MissingUser,
        NoMigrationPath,
        NotFound,
        OutcomeUnknown,
        ProtocolError,
        RateLimited,
        RejectedByAuthorizer,
        RepeatedCursor,
        ServerError,
        SpecifyOrg,
        StateBackedError,
        TimedOut,
        TlsError,
        TransportError,
    )
    from smb_tui.api.models import (
        AdministrativeInstanceState,
        Event,
        EventObject,
        IndexEntry,
        InstanceSummary,
        InstanceUpdate,
        LogEntry,
        Logs,
        Machine,
        MachineSummary,
        MachineVersionInfo,
        Page,
        Sent,
        State,
        StateValue,
        Transition,
        check_slug,
    )

_FROM = {
    "AnonymousSession": "smb_tui.api.auth",
    "KeyCredentials": "smb_tui.api.auth",
    "StaticToken": "smb_tui.api.auth",
    "TokenSource": "smb_tui.api.auth",
    "PRODUCTION_URL": "smb_tui.api.wire",
    "Reconnected": "smb_tui.api.client",
    "StateBackedClient": "smb_tui.api.client",
    "delete_confirmation": "smb_tui.api.client",
    "ApiError": "smb_tui.api.errors",
    "BadRequest": "smb_tui.api.errors",
    "ConfigurationError": "smb_tui.api.errors",
    "Conflict": "smb_tui.api.errors",
    "ConnectionFailed": "smb_tui.api.errors",
    "EmptyPages": "smb_tui.api.errors",
    "Forbidden": "smb_tui.api.errors",
    "InvalidParameter": "smb_tui.api.errors",
    "InvalidSlug": "smb_tui.api.errors",
    "InvalidState": "smb_tui.api.errors",
    "MissingOrg": "smb_tui.api.errors",
    "MissingScope": "smb_tui.api.errors",
    "MissingUser": "smb_tui.api.errors",
    "NoMigrationPath": "smb_tui.api.errors",
    "NotFound": "smb_tui.api.errors",
    "OutcomeUnknown": "smb_tui.api.errors",
    "ProtocolError": "smb_tui.api.errors",
    "RateLimited": "smb_tui.api.errors",
    "RejectedByAuthorizer": "smb_tui.api.errors",
    "RepeatedCursor": "smb_tui.api.errors",
    "ServerError": "smb_tui.api.errors",
    "MachineFailed": "smb_tui.api.errors",
    "SpecifyOrg": "smb_tui.api.errors",
    "StateBackedError": "smb_tui.api.errors",
    "TimedOut": "smb_tui.api.errors",
    "TlsError": "smb_tui.api.errors",
    "TransportError": "smb_tui.api.errors",
    "AdministrativeInstanceState": "smb_tui.api.models",
    "Event": "smb_tui.api.models",
    "EventObject": "smb_tui.api.models",
    "IndexEntry": "smb_tui.api.models",
    "InstanceSummary": "smb_tui.api.models",
    "InstanceUpdate": "smb_tui.api.models",
    "LogEntry": "smb_tui.api.models",
    "Logs": "smb_tui.api.models",
    "Machine": "smb_tui.api.models",
    "MachineSummary": "smb_tui.api.models",
    "MachineVersionInfo": "smb_tui.api.models",
    "Page": "smb_tui.api.models",
    "Sent": "smb_tui.api.models",
    "State": "smb_tui.api.models",
    "StateValue": "smb_tui.api.models",
    "Transition": "smb_tui.api.models",
    "check_slug": "smb_tui.api.models",
}


def __getattr__(name: str) -> Any:
    try:
        module = _FROM[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "PRODUCTION_URL",
    "AdministrativeInstanceState",
    "AnonymousSession",
    "ApiError",
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "ConnectionFailed",
    "EmptyPages",
    "Event",
    "EventObject",
    "Forbidden",
    "IndexEntry",
    "InstanceSummary",
    "InstanceUpdate",
    "InvalidParameter",
    "InvalidSlug",
    "InvalidState",
    "KeyCredentials",
    "LogEntry",
    "Logs",
    "Machine",
    "MachineFailed",
    "MachineSummary",
    "MachineVersionInfo",
    "MissingOrg",
    "MissingScope",
    "MissingUser",
    "NoMigrationPath",
    "NotFound",
    "OutcomeUnknown",
    "Page",
    "ProtocolError",
    "RateLimited",
    "Reconnected",
    "RejectedByAuthorizer",
    "RepeatedCursor",
    "Sent",
    "ServerError",
    "SpecifyOrg",
    "State",
    "StateBackedClient",
    "StateBackedError",
    "StateValue",
    "StaticToken",
    "TimedOut",
    "TlsError",
    "TokenSource",
    "Transition",
    "TransportError",
    "check_slug",
    "delete_confirmation",
]
