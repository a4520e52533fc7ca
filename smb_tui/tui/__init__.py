"""The Textual dashboard. `smb_tui.tui.app.SmbTui` is the app."""
