"""smb-tui: a terminal dashboard for State Backed, with a local State Backed-compatible server."""

__version__ = "0.1.0"
