"""The dashboard's dialogs, one module each, on one base (`base.Modal`, one stylesheet)."""

from __future__ import annotations

from smb_tui.tui.screens.modals.base import Modal, safe_json
from smb_tui.tui.screens.modals.chart import ChartScreen
from smb_tui.tui.screens.modals.confirm import TypedConfirm
from smb_tui.tui.screens.modals.export import ExportChoice, ExportHistory
from smb_tui.tui.screens.modals.help import HelpScreen
from smb_tui.tui.screens.modals.index_query import IndexQuery, QueryIndex
from smb_tui.tui.screens.modals.jump import JumpToTime
from smb_tui.tui.screens.modals.new_instance import NewInstance
from smb_tui.tui.screens.modals.profiles import ChooseProfile
from smb_tui.tui.screens.modals.replay import DivergenceDetail, ReplayAgainst
from smb_tui.tui.screens.modals.state_map import StateGraphScreen
from smb_tui.tui.screens.modals.transition import Resend, TransitionDetail
from smb_tui.tui.screens.modals.versions import (
    ChooseVersion,
    Deploy,
    DeployVersion,
    VersionsScreen,
    unique_versions,
    version_option,
)

__all__ = [
    "ChartScreen",
    "ChooseProfile",
    "ChooseVersion",
    "Deploy",
    "DeployVersion",
    "DivergenceDetail",
    "ExportChoice",
    "ExportHistory",
    "HelpScreen",
    "IndexQuery",
    "JumpToTime",
    "Modal",
    "NewInstance",
    "QueryIndex",
    "ReplayAgainst",
    "Resend",
    "StateGraphScreen",
    "TransitionDetail",
    "TypedConfirm",
    "VersionsScreen",
    "safe_json",
    "unique_versions",
    "version_option",
]
