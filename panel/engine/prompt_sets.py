"""Which prompt templates a panel uses. A prompt set is a folder that holds every template in
TEMPLATE_NAMES; its name comes from the `name` line of its prompts.toml, else from the folder's
name. The name and one hash over all its templates go into every transcript, so that `panel diff`
can say when two runs were written with different prompts."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from panel.engine.prompts import TEMPLATE_NAMES, default_prompts_dir, prompts_environment, template_hashes
from panel.errors import ConfigError, literal
from panel.records.transcript import PromptSetRecord, prompt_set_hash
from panel.regular_files import MAX_SETTINGS_FILE_BYTES, FileKind, read_regular_text

PROMPTS_FILE = "prompts.toml"
MAX_NAME_LENGTH = 60
PROMPTS_FILE_KIND = FileKind(noun="prompt set file", expected="a prompts.toml file", error=ConfigError)


@dataclass(frozen=True)
class PromptSet:
    """A checked prompt set: its name, its folder and each template's sha256."""

    name: str
    folder: Path
    templates: dict[str, str]

    @property
    def sha256(self) -> str:
        return prompt_set_hash(self.templates)

    def record(self) -> PromptSetRecord:
        return PromptSetRecord(name=self.name, sha256=self.sha256, path=str(self.folder))


def load_prompt_set(prompts_dir: Path | None = None) -> PromptSet:
    """The prompt set in `prompts_dir` (the bundled one when None), checked: every template is
    there and parses. ConfigError naming the folder and what is wrong otherwise."""
    folder = Path(prompts_dir).resolve() if prompts_dir else default_prompts_dir()
    return checked_prompt_set(str(folder))


@lru_cache(maxsize=8)
def checked_prompt_set(folder_name: str) -> PromptSet:
    folder = Path(folder_name)
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: no such prompts folder. A prompt set is a folder holding "
            f"{', '.join(TEMPLATE_NAMES)}.",
            hint="Point {prompts_dir} at such a folder, or leave it unset for the bundled prompts.",
        )
    missing = [name for name in TEMPLATE_NAMES if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"The prompts folder {folder} lacks {', '.join(missing)}: a prompt set must hold all of "
            f"{', '.join(TEMPLATE_NAMES)}, and the panel does not mix in the bundled ones. Copy the "
            f"missing templates from {default_prompts_dir()} and edit them."
        )
    check_templates_parse(folder)
    return PromptSet(name=prompt_set_name(folder), folder=folder, templates=template_hashes(folder))


def check_templates_parse(folder: Path) -> None:
    environment = prompts_environment(str(folder))
    for name in TEMPLATE_NAMES:
        try:
            environment.get_template(name)
        except jinja2.TemplateSyntaxError as error:
            raise ConfigError(
                f"{folder / name}: not a valid Jinja2 template ({error.message}, line {error.lineno})."
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(f"{folder / name}: not UTF-8 text; save the template as UTF-8.") from None


def prompt_set_name(folder: Path) -> str:
    """`name` from the folder's prompts.toml, else the folder's own name."""
    path = folder / PROMPTS_FILE
    if not path.exists():
        return folder.name
    try:
        data = tomllib.loads(read_regular_text(path, PROMPTS_FILE_KIND, MAX_SETTINGS_FILE_BYTES))
    except (ValueError, RecursionError) as error:
        raise ConfigError(f"{path}: cannot read this prompt set file ({str(error)[:300]}).") from None
    name = data.get("name", folder.name)
    if not isinstance(name, str) or not name.strip() or not name.isprintable() or len(name) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"{path}: `name` must be one line of text of at most {MAX_NAME_LENGTH} characters, "
            'like name = "terse v1".'
        )
    return name.strip()


def refuse_another_prompt_set(
    recorded: PromptSetRecord | None, prompts_dir: Path | None, panel: Path
) -> None:
    """A panel keeps the one prompt set it was written with (a rerun of one reviewer included),
    so that its transcript says truly which prompts wrote every verdict. A transcript older than
    prompt set names reruns with the chosen set, as before."""
    chosen = load_prompt_set(prompts_dir)
    if recorded is None or chosen.sha256 == recorded.sha256:
        return
    where = f"the folder {recorded.path}" if recorded.path else "its folder"
    raise ConfigError(
        f"{panel} was written with the prompt set {recorded.name!r} (sha256 {recorded.sha256[:12]}), "
        f"and this rerun would use {chosen.name!r} (sha256 {chosen.sha256[:12]}) from {chosen.folder}: "
        "one panel keeps one prompt set.",
        hint="Point {prompts_dir} at "
        + literal(where)
        + " to rerun with the panel's own prompts, or run a new panel to try other prompts.",
    )
