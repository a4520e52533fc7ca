"""The headless core: what the dashboard and the CLI share, with no Textual."""
