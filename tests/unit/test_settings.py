from pathlib import Path

import pytest

from panel.errors import ConfigError
from panel.settings import normalize_host, resolve_settings


def test_flag_beats_environment_beats_file(tmp_path: Path):
    config = tmp_path / "panel.toml"
    config.write_text('seed = 1\nmodel = "file-model"\ntimeout = 30\n[persona_models]\ndx = "file-dx"\n')
    settings = resolve_settings({}, {}, config)
    assert (settings.seed, settings.timeout) == (1, 30)
    assert settings.model_for("dx", "default") == "file-dx"
    assert settings.model_for("business", "default") == "file-model"

    settings = resolve_settings({}, {"PANEL_SEED": "2", "PANEL_MODEL": "env-model"}, config)
    assert settings.seed == 2
    assert (
        settings.model_for("dx", "default") == "env-model"
    )  # env's panel-wide model beats the file's per-persona one

    settings = resolve_settings({"seed": 3, "persona_models": {"dx": "flag-dx"}}, {"PANEL_SEED": "2"}, config)
    assert settings.seed == 3
    assert settings.model_for("dx", "default") == "flag-dx"
    assert settings.model_for("futures", "default") == "file-model"


def test_persona_default_when_nothing_set(tmp_path: Path):
    settings = resolve_settings({}, {}, tmp_path / "absent.toml")
    assert settings.model_for("dx", "persona-default") == "persona-default"
    assert settings.host == "http://localhost:11434"


def test_ollama_host_forms():
    assert normalize_host("localhost") == "http://localhost:11434"
    assert normalize_host("0.0.0.0:8080") == "http://127.0.0.1:8080"
    assert normalize_host("https://ollama.example.com") == "https://ollama.example.com:443"
    assert normalize_host("http://127.0.0.1:11434/") == "http://127.0.0.1:11434"


def test_bad_settings_are_config_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="temperature"):
        resolve_settings({"temperature": 9}, {}, tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="backend"):
        resolve_settings({}, {"PANEL_BACKEND": "cloud"}, tmp_path / "absent.toml")
    broken = tmp_path / "panel.toml"
    broken.write_text("seed = = 1")
    with pytest.raises(ConfigError, match="panel.toml"):
        resolve_settings({}, {}, broken)


def test_panel_toml_accepts_the_flag_names(tmp_path: Path):
    config = tmp_path / "panel.toml"
    config.write_text('out = "runs"\npersonas = "mine"\n')
    settings = resolve_settings({}, {}, config)
    assert settings.out_dir == Path("runs") and settings.personas_dir == Path("mine")


def test_timeout_must_be_finite(tmp_path: Path):
    with pytest.raises(ConfigError, match="timeout"):
        resolve_settings({}, {"PANEL_TIMEOUT": "inf"}, tmp_path / "absent.toml")


def test_embedded_slots_come_from_the_environment_or_panel_toml(tmp_path: Path):
    assert resolve_settings({}, {}, tmp_path / "absent.toml").embedded_slots == 4
    assert resolve_settings({}, {"PANEL_EMBEDDED_SLOTS": "1"}, tmp_path / "absent.toml").embedded_slots == 1
    config = tmp_path / "panel.toml"
    config.write_text("embedded_slots = 2\n")
    assert resolve_settings({}, {}, config).embedded_slots == 2
    with pytest.raises(ConfigError):
        resolve_settings({}, {"PANEL_EMBEDDED_SLOTS": "0"}, tmp_path / "absent.toml")


def test_openai_host_keeps_its_schemes_default_port(tmp_path: Path):
    assert normalize_host("http://vllm-box/v1", "openai") == "http://vllm-box/v1"
    assert normalize_host("https://api.example.com/v1", "openai") == "https://api.example.com/v1"
    assert normalize_host("vllm-box:8000", "openai") == "http://vllm-box:8000"
    settings = resolve_settings(
        {"backend": "openai", "host": "http://vllm-box/v1"}, {}, tmp_path / "absent.toml"
    )
    assert settings.host == "http://vllm-box/v1"
    # Ollama hosts (and auto, which asks Ollama first) still get Ollama's port.
    assert resolve_settings({"host": "gpu-box"}, {}, tmp_path / "absent.toml").host == "http://gpu-box:11434"
    with pytest.raises(ConfigError) as error:
        normalize_host("ftp://vllm-box/v1", "openai")
    assert "Ollama" not in str(error.value) and "server URL" in str(error.value)
    with pytest.raises(ConfigError, match="The Ollama host"):
        normalize_host("ftp://gpu-box")


def test_panel_toml_cannot_choose_which_secret_is_sent_where(tmp_path: Path):
    config = tmp_path / "panel.toml"
    config.write_text(
        'backend = "openai"\nhost = "http://collector.example/v1"\napi_key_env = "GITHUB_TOKEN"\n'
    )
    environ = {"GITHUB_TOKEN": "ghp_secret"}
    with pytest.raises(ConfigError, match="api_key_env") as error:
        resolve_settings({}, environ, config)
    assert "PANEL_API_KEY_ENV" in str(error.value) and "ghp_secret" not in str(error.value)
    # The user's own environment names the variable.
    config.write_text('backend = "openai"\nhost = "http://collector.example/v1"\n')
    chosen = resolve_settings(
        {"host": "http://mine/v1"}, {**environ, "PANEL_API_KEY_ENV": "GITHUB_TOKEN"}, config
    )
    assert chosen.api_key_env == "GITHUB_TOKEN"
    # Nor may the file send the default key to a host only it names...
    with pytest.raises(ConfigError, match="only it names") as error:
        resolve_settings({}, {"OPENAI_API_KEY": "sk-secret"}, config)
    assert "sk-secret" not in str(error.value)
    # ...but a host the user names, or no key at all, is fine.
    assert resolve_settings({"host": "http://collector.example/v1"}, {"OPENAI_API_KEY": "sk-x"}, config)
    assert resolve_settings({}, {"OLLAMA_HOST": "http://collector.example/v1", "OPENAI_API_KEY": "x"}, config)
    assert resolve_settings({}, {}, config).host == "http://collector.example/v1"
