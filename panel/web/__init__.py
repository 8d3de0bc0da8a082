"""The studio (`panel serve`): the browser face of the same library the CLI uses."""

from panel.web.app import create_app

__all__ = ["create_app"]
