"""What a studio run may choose: backend, model (for the panel or one reviewer), seed, prompt set
and persona set, with the server's settings as the defaults. Folders are offered from a list the
server makes; the form sends a key from that list, never a path."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData

from panel.backends.catalog import served_models
from panel.errors import PanelError
from panel.records.personas import default_personas_dir, load_personas
from panel.settings import Settings, backend_names

# Prompt sets an editor can try without configuring anything: this folder and each folder in it
# that holds the review template (relative to the folder `panel serve` starts in, where the
# repository ships its example set).
EXAMPLE_PROMPTS = Path("examples/prompts")
SEED_PATTERN = r"[0-9]{1,10}"
MAX_SEED = 2**31 - 1  # what every backend takes (the seeds a run draws are below it)
MAX_MODEL_CHARS = 200
MODEL_LIST_SECONDS = 1.0  # a slow backend leaves the model list empty rather than the page waiting
MODEL_LIST_KEPT_SECONDS = 60.0
BUNDLED, CONFIGURED, RECORDED = "bundled", "configured", "recorded"


@dataclass(frozen=True)
class FolderChoice:
    """One prompt or persona set on offer: the key the form sends, what the editor reads, and
    its folder (None: the bundled set)."""

    key: str
    label: str
    path: Path | None


def prompt_sets(settings: Settings) -> list[FolderChoice]:
    """The bundled prompts, the configured `--prompts` folder, and the example prompt sets:
    examples/prompts/ and each folder in it that holds a review template."""
    offered = [FolderChoice(BUNDLED, "bundled prompts", None)]
    if settings.prompts_dir:
        offered.append(FolderChoice(CONFIGURED, f"{settings.prompts_dir} (--prompts)", settings.prompts_dir))
    inside = (
        sorted(path for path in EXAMPLE_PROMPTS.iterdir() if path.is_dir())
        if EXAMPLE_PROMPTS.is_dir()
        else []
    )
    for folder in [EXAMPLE_PROMPTS, *inside]:
        if (folder / "review.j2").is_file():
            key = "example" if folder == EXAMPLE_PROMPTS else f"example:{folder.name}"
            offered.append(FolderChoice(key, str(folder), folder))
    return offered


def persona_sets(settings: Settings) -> list[FolderChoice]:
    """The bundled personas and the configured `--personas` folder."""
    offered = [FolderChoice(BUNDLED, "bundled personas", None)]
    if settings.personas_dir:
        offered.append(
            FolderChoice(CONFIGURED, f"{settings.personas_dir} (--personas)", settings.personas_dir)
        )
    return offered


def default_key(settings_path: Path | None) -> str:
    return CONFIGURED if settings_path else BUNDLED


def persona_names(settings: Settings) -> dict[str, str]:
    """Persona id -> display name, over every persona set on offer (for one name on every page)."""
    names: dict[str, str] = {}
    for offered in persona_sets(settings):
        with contextlib.suppress(PanelError):  # a broken folder is reported when a run uses it
            names.update({item.persona.id: item.persona.name for item in load_personas(offered.path)})
    return names


def persona_defaults(settings: Settings) -> dict[str, str]:
    """Persona id -> the model it would use with the server's settings (for each persona on offer)."""
    models: dict[str, str] = {}
    for offered in persona_sets(settings):
        with contextlib.suppress(PanelError):
            for item in load_personas(offered.path):
                models.setdefault(item.persona.id, settings.model_for(item.persona.id, item.persona.model))
    return models


class ChoiceError(ValueError):
    """Run choices the server will not take; `problems` maps each form field to a sentence."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


def parse_seed(text: str) -> int | None:
    """A seed typed in a form: empty for a random one, else ASCII digits up to MAX_SEED
    ("²".isdigit() is true, and int() of 5,000 digits raises); ValueError with the reason."""
    text = text.strip()
    if not text:
        return None
    if not (re.fullmatch(SEED_PATTERN, text) and int(text) <= MAX_SEED):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ValueError(
            f"The seed must be a whole number from 0 to {MAX_SEED} (digits 0-9 only), or empty "
            f"for a random one; got {shown!r}."
        )
    return int(text)


def parse_model(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if len(text) > MAX_MODEL_CHARS or not text.isprintable():
        raise ValueError(f"A model name is one line of at most {MAX_MODEL_CHARS} characters.")
    return text


def chosen_folder(
    form: FormData, name: str, offered: list[FolderChoice], current: Path | None
) -> Path | None:
    key = str(form.get(name) or RECORDED)
    if key == RECORDED:  # a rerun's default: the persona as the transcript recorded it
        key = default_key(current)
    found = next((choice for choice in offered if choice.key == key), None)
    if found is None:
        raise ValueError(f"Choose one of the {name.replace('_', ' ')} the form offers.")
    return found.path


def rerun_personas_dir(settings: Settings, form: FormData) -> Path | None:
    """The persona folder a rerun reads its persona from: None for the recorded persona file
    (the default), else the chosen set's folder (the bundled one by its path)."""
    key = str(form.get("persona_set") or RECORDED)
    found = next((choice for choice in persona_sets(settings) if choice.key == key), None)
    return None if found is None else found.path or default_personas_dir()


def run_settings(settings: Settings, form: FormData, persona_ids: list[str]) -> Settings:
    """The server's settings with the form's choices applied; ChoiceError naming each field the
    server will not take."""
    problems: dict[str, str] = {}
    update: dict[str, Any] = {}
    backend = str(form.get("backend") or settings.backend)
    if backend not in backend_names():
        problems["backend"] = f"Choose one of {', '.join(backend_names())}."
    update["backend"] = backend
    parsers = {
        "seed": lambda: parse_seed(str(form.get("seed") or "")),
        "model": lambda: parse_model(str(form.get("model") or "")),
        "prompts_dir": lambda: chosen_folder(form, "prompt_set", prompt_sets(settings), settings.prompts_dir),
        "personas_dir": lambda: chosen_folder(
            form, "persona_set", persona_sets(settings), settings.personas_dir
        ),
    }
    for setting, parse in parsers.items():
        try:
            update[setting] = parse()
        except ValueError as error:
            field_name = {"prompts_dir": "prompt_set", "personas_dir": "persona_set"}.get(setting, setting)
            problems[field_name] = str(error)
    persona_models = {}
    for persona_id in persona_ids:
        try:
            chosen = parse_model(str(form.get(f"model-{persona_id}") or ""))
        except ValueError as error:
            problems[f"model-{persona_id}"] = str(error)
            continue
        if chosen:
            persona_models[persona_id] = chosen
    update["persona_models"] = persona_models
    if problems:
        raise ChoiceError(problems)
    return settings.model_copy(update=update)


def choice_values(settings: Settings, form: FormData | None = None) -> dict[str, str]:
    """What the run choices show: the form's last values, else the server's defaults."""
    defaults = {
        "backend": settings.backend,
        "model": settings.model or "",
        "seed": "" if settings.seed is None else str(settings.seed),
        "prompt_set": default_key(settings.prompts_dir),
        "persona_set": default_key(settings.personas_dir),
        **{f"model-{persona}": model for persona, model in settings.persona_models.items()},
    }
    if form is None:
        return defaults
    return {**defaults, **{key: str(value) for key, value in form.items() if isinstance(value, str)}}


@dataclass
class ModelLists:
    """The models each backend says it has, asked for briefly and kept a minute."""

    kept: dict[tuple[str, str], tuple[float, list[str]]] = field(default_factory=dict)

    async def known(self, settings: Settings) -> list[str]:
        key = (settings.backend, settings.host)
        now = time.monotonic()
        if key in self.kept and now - self.kept[key][0] < MODEL_LIST_KEPT_SECONDS:
            return self.kept[key][1]
        try:
            found = await asyncio.wait_for(listed_models(settings), MODEL_LIST_SECONDS)
        except Exception:  # noqa: BLE001 - no list is an empty datalist; a run says what is wrong
            found = []
        self.kept[key] = (now, found)
        return found


async def listed_models(settings: Settings) -> list[str]:
    """The models an Ollama server has pulled or an OpenAI-compatible server serves; the
    embedded backend serves one GGUF under any name, so it lists none."""
    name = "ollama" if settings.backend == "auto" else settings.backend
    if name not in ("ollama", "openai"):
        return []
    return sorted(await served_models(name, settings, MODEL_LIST_SECONDS) or [])
