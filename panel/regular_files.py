"""The one guarded way the project opens a file a user can name: a regular file only, read with a
cap. A FIFO would block the read forever and a link to /dev/zero would fill memory, and a folder
scan (`*.json`) meets whatever someone left there, so every reader goes through here."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from panel.errors import PanelError

# What a transcript, a votes file or a report may weigh; a real one is far smaller.
MAX_DATA_FILE_BYTES = 64 * 1024 * 1024
# A real card is a few kilobytes; anything far larger is a scraping accident or an attack.
MAX_CARD_BYTES = 64 * 1024
# What a settings or persona file may weigh.
MAX_SETTINGS_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class FileKind:
    """How the errors about one kind of file speak: `noun` ("transcript") in "no such …" and
    "a … may be at most", `expected` ("a transcript file (.json)") in "give …"."""

    noun: str
    expected: str
    error: type[PanelError] = PanelError
    too_large_advice: str = ""


def open_regular_file(path: Path, kind: FileKind) -> BinaryIO:
    """The file opened for binary reading, once fstat has shown it is a regular file; kind.error
    with a one-paragraph message otherwise (missing, a folder, a device, a FIFO, a socket)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise kind.error(f"{path}: no such {kind.noun}.") from None
    except IsADirectoryError:
        raise kind.error(f"{path} is a directory; give {kind.expected}.") from None
    except OSError as error:
        raise kind.error(f"{path}: cannot open it ({error.strerror or error}).") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise kind.error(f"{path} is a directory; give {kind.expected}.")
        raise kind.error(
            f"{path} is not a regular file (a device, a FIFO or a socket); give {kind.expected}."
        )
    return os.fdopen(descriptor, "rb")


def read_regular_file(path: Path, kind: FileKind, max_bytes: int = MAX_DATA_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, never reading past the cap."""
    with open_regular_file(path, kind) as stream:
        try:
            data = stream.read(max_bytes + 1)
        except OSError as error:
            raise kind.error(f"{path}: cannot read it ({error.strerror or error}).") from None
    if len(data) > max_bytes:
        advice = f" {kind.too_large_advice}" if kind.too_large_advice else ""
        raise kind.error(f"{path} is too large: a {kind.noun} may be at most {max_bytes:,} bytes.{advice}")
    return data


def read_regular_text(path: Path, kind: FileKind, max_bytes: int = MAX_DATA_FILE_BYTES) -> str:
    """read_regular_file as UTF-8 text, a byte order mark dropped."""
    data = read_regular_file(path, kind, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise kind.error(f"{path}: cannot read it as UTF-8 text ({error}).") from None
