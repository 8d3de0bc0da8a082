from pathlib import Path

import pytest

from panel.config import normalize_host, resolve_settings
from panel.errors import ConfigError


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
