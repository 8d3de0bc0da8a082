"""The package's import graph: folders by stage of the data, imports only from a stage at or
below a module's own, no circles, and few floors (docs: architecture)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PANEL = Path(__file__).resolve().parents[2] / "panel"
# Each stage may import its own and the ones before it, never one after it.
STAGES = [
    {"panel.errors", "panel.regular_files", "panel.version"},
    {"panel.settings"},
    {"panel.records"},
    {"panel.store"},
    {"panel.backends"},
    {"panel.engine"},
    {"panel.editor"},
    {"panel.batch", "panel.measure", "panel.publish"},
    {"panel.cli", "panel.web"},
    {"panel", "panel.__main__"},
]
MAX_LAYERS = 10


def module_name(path: Path) -> str:
    parts = path.relative_to(PANEL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PANEL.rglob("*.py")}


def runtime_imports(path: Path) -> set[str]:
    """The panel modules `path` imports when it runs (imports under TYPE_CHECKING left out)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for statement in branch.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "panel":
            for alias in node.names:  # `from panel.engine import runner` imports a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "panel"}
    return {name for name in found if name in MODULES}


GRAPH = {name: runtime_imports(path) - {name} for name, path in MODULES.items()}


def stage_of(module: str) -> int:
    for index, stage in enumerate(STAGES):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in stage if prefix != "panel"):
            return index
    assert module in ("panel", "panel.__main__"), f"{module} belongs to no stage"
    return len(STAGES) - 1


def circles() -> list[str]:
    found: list[str] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                found.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    return found


def folder_of(module: str) -> str:
    """The room a module lives in: its folder under panel/, or itself at the top level."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


FOLDER_GRAPH: dict[str, set[str]] = {}
for _module, _targets in GRAPH.items():
    FOLDER_GRAPH.setdefault(folder_of(_module), set()).update(
        folder_of(target) for target in _targets if folder_of(target) != folder_of(_module)
    )


@cache
def layer(folder: str) -> int:
    """1 for a folder that imports no other; one more than its highest import otherwise."""
    return 1 + max((layer(target) for target in FOLDER_GRAPH.get(folder, ())), default=0)


def test_every_import_goes_to_the_same_stage_or_one_below() -> None:
    upward = [
        f"{module} (stage {stage_of(module)}) imports {target} (stage {stage_of(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if stage_of(target) > stage_of(module)
    ]
    assert upward == []


def test_no_import_circles() -> None:
    assert circles() == []


def test_at_most_ten_layers_of_folders() -> None:
    assert circles() == [], "layers are counted on a graph without circles"
    layers = {folder: layer(folder) for folder in FOLDER_GRAPH}
    assert max(layers.values()) <= MAX_LAYERS, sorted(layers.items(), key=lambda item: -item[1])
