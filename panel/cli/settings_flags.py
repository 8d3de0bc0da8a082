"""The settings flags (`--backend`, `--host`, `--model`, …) declared once, for every command.

A command takes `flags: SettingsFlags` and is decorated with `@settings_flags("backend", "host",
…)`: the decorator puts those options in the command's signature where `flags` stands (so Typer
shows them in --help), and hands the command their values as one SettingsFlags, which turns
them into Settings over the environment and panel.toml.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints

import typer

from panel.errors import ConfigError
from panel.settings import Settings, backend_names, resolve_settings

# The choices come from the registry's table, so a new backend shows up in --help by itself.
BackendName = Literal[tuple(backend_names())]  # type: ignore[valid-type]
BackendOption = Annotated[
    BackendName | None,
    typer.Option(
        "--backend",
        help="Where the models run; auto: Ollama when it answers, else the embedded model; openai: "
        "an OpenAI-compatible server at --host [default: auto] [env: PANEL_BACKEND].",
    ),
]
HostOption = Annotated[
    str | None,
    typer.Option(
        "--host",
        metavar="URL",
        help="Ollama server URL, or an OpenAI-compatible base URL [env: OLLAMA_HOST].",
    ),
]
HostsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--host",
        metavar="URL",
        help="Ollama server URL; repeat it to spread calls over several hosts [env: OLLAMA_HOST].",
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", metavar="MODEL", help="One model for every persona [env: PANEL_MODEL]."),
]
PersonaModelOption = Annotated[
    list[str] | None,
    typer.Option("--persona-model", metavar="ID=MODEL", help="A model for one persona; repeatable."),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed", metavar="N", help="Sampling seed (random and recorded if unset) [env: PANEL_SEED]."
    ),
]
TemperatureOption = Annotated[
    float | None,
    typer.Option(
        "--temperature",
        metavar="T",
        help="Override every persona's temperature (0 to 2) [env: PANEL_TEMPERATURE].",
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="Seconds one model call may take [default: 180] [env: PANEL_TIMEOUT].",
    ),
]
PersonasOption = Annotated[
    Path | None,
    typer.Option(
        "--personas",
        metavar="DIR",
        help="Folder of persona .toml files [default: the bundled four] [env: PANEL_PERSONAS].",
    ),
]
PromptsOption = Annotated[
    Path | None,
    typer.Option(
        "--prompts",
        metavar="DIR",
        help="Folder of prompt templates (a prompt set) [default: the bundled set] [env: PANEL_PROMPTS].",
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", metavar="DIR", help="Folder for transcripts [default: transcripts] [env: PANEL_OUT]."
    ),
]
GgufOption = Annotated[
    Path | None,
    typer.Option("--gguf", metavar="PATH", help="GGUF file for the embedded backend [env: PANEL_GGUF]."),
]
# Each flag's option type; `hosts` is `--host` repeatable (batch, eval).
OPTIONS: dict[str, Any] = {
    "backend": BackendOption,
    "host": HostOption,
    "hosts": HostsOption,
    "model": ModelOption,
    "persona_model": PersonaModelOption,
    "seed": SeedOption,
    "temperature": TemperatureOption,
    "timeout": TimeoutOption,
    "personas": PersonasOption,
    "prompts": PromptsOption,
    "out": OutOption,
    "gguf": GgufOption,
}
ALL = (
    "backend",
    "host",
    "model",
    "persona_model",
    "seed",
    "temperature",
    "timeout",
    "personas",
    "prompts",
    "out",
    "gguf",
)


@dataclass(frozen=True)
class SettingsFlags:
    """The settings flags a command was given; None where a flag was not given."""

    backend: str | None = None
    host: str | None = None
    hosts: list[str] | None = None
    model: str | None = None
    persona_model: list[str] | None = None
    seed: int | None = None
    temperature: float | None = None
    timeout: float | None = None
    personas: Path | None = None
    prompts: Path | None = None
    out: Path | None = None
    gguf: Path | None = None

    def settings(self, **overrides: Any) -> Settings:
        """Settings from these flags (and `overrides`, in the flags' names), over the
        environment and panel.toml. With several --host, the first one is the settings' host."""
        given = {field.name: getattr(self, field.name) for field in fields(self)}
        given.update(overrides)
        hosts = given.pop("hosts")
        if hosts and given["host"] is None:
            given["host"] = hosts[0]
        renamed = {
            "persona_models": parse_persona_models(given.pop("persona_model")),
            "personas_dir": given.pop("personas"),
            "prompts_dir": given.pop("prompts"),
            "out_dir": given.pop("out"),
        }
        chosen = {**given, **renamed}
        return resolve_settings({key: value for key, value in chosen.items() if value is not None})


NO_FLAGS = SettingsFlags()  # what a command's `flags` parameter stands for in its own signature


def parse_persona_models(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    models = {}
    for pair in pairs:
        persona_id, sep, model = pair.partition("=")
        if not sep or not persona_id.strip() or not model.strip():
            raise ConfigError(f"--persona-model {pair!r} must look like ID=MODEL, e.g. dx=qwen3:8b.")
        models[persona_id.strip()] = model.strip()
    return models


def settings_flags(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give the decorated command these settings flags where its `flags` parameter stands."""
    unknown = set(names) - set(OPTIONS)
    assert not unknown, f"no settings flag named {unknown}"

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        hints = get_type_hints(command, include_extras=True)
        parameters = []
        for parameter in inspect.signature(command).parameters.values():
            if parameter.name != "flags":
                parameters.append(
                    parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
                )
                continue
            parameters += [
                inspect.Parameter(
                    name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=OPTIONS[name]
                )
                for name in names
            ]

        @functools.wraps(command)
        def with_flags(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names}
            return command(*args, flags=SettingsFlags(**given), **kwargs)

        with_flags.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        with_flags.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        del with_flags.__wrapped__  # Typer must read the signature above, not the command's
        return with_flags

    return decorate
