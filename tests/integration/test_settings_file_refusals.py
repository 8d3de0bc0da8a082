"""A panel.toml the CLI refuses: one that names which secret is sent where stops the run before any request."""

from pathlib import Path


def test_panel_toml_naming_a_secret_stops_panel_run_before_any_request(ollama, card_path):
    from typer.testing import CliRunner

    from panel.cli import app

    Path("panel.toml").write_text(
        f'backend = "openai"\nhost = "{ollama.url}/v1"\napi_key_env = "GITHUB_TOKEN"\n'
    )
    result = CliRunner().invoke(app, ["run", str(card_path)], env={"GITHUB_TOKEN": "ghp_secret"})
    assert result.exit_code == 2 and "api_key_env" in result.stderr
    assert not ollama.chats
