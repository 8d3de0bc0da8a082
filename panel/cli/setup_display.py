"""How `panel models` and `panel cache info` look in a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from panel.backends.cache_admin import CacheInfo
    from panel.backends.catalog import ModelsReport

OFFERED_MARK = {True: "[green]available[/]", False: "[red]not offered[/]", None: "[dim]unknown[/]"}


def print_models(console: Console, report: ModelsReport) -> None:
    """One line per backend (its models, or why there are none), then each persona's model."""
    width = max(len(offer.backend) for offer in report.backends)
    for offer in report.backends:
        if offer.status == "ok":
            said = escape(", ".join(offer.models) or "no models")
            said += f" [dim]({escape(offer.detail)})[/]" if offer.detail else ""
        elif offer.status == "unreachable":
            said = f"[red]not answering:[/] {escape(offer.detail or '')}"
        else:
            said = f"[dim]not asked: {escape(offer.detail or '')}[/]"
        where = f"{escape(offer.where)}: " if offer.where else ""
        console.print(f"[bold]{offer.backend:<{width}}[/]  {where}{said}", highlight=False, soft_wrap=True)
    console.print(f"\nA run would use the {report.backend} backend:", highlight=False)
    personas = Table.grid(padding=(0, 2))
    for _ in range(3):
        personas.add_column(overflow="fold")
    for choice in report.personas:
        personas.add_row(escape(choice.persona), escape(choice.model), OFFERED_MARK[choice.offered])
    console.print(personas)


def print_cache_info(console: Console, info: CacheInfo) -> None:
    console.print(f"path     {escape(str(info.path))}", highlight=False, soft_wrap=True)
    if not info.exists:
        console.print("         (no cache yet: the first cached run creates it)", highlight=False)
        return
    console.print(f"size     {info.bytes / 1_000_000:.2f} MB", highlight=False)
    console.print(f"entries  {info.entries}", highlight=False)
    for model, count in info.entries_by_model.items():
        console.print(f"         {count} from {escape(model)}", highlight=False, soft_wrap=True)
