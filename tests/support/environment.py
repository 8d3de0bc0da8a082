"""The environment variables that would carry a developer's settings into a test."""

from __future__ import annotations

from panel.settings import ENVIRONMENT, Settings

# Every variable panel.settings reads (PANEL_* and OLLAMA_HOST), and the variable that holds
# the API key by default.
SETTINGS_VARIABLES = (*ENVIRONMENT, Settings.model_fields["api_key_env"].default)
