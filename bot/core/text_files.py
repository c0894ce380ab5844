"""Reading a text file a person named (the team config, the catalog, a runbook, the postmortem
template): what is wrong with it in words, never a traceback."""

from __future__ import annotations

from pathlib import Path


class UnreadableFile(Exception):
    """The file cannot be read as text; the message says why ("not UTF-8 text", ...)."""


def not_text(error: UnicodeDecodeError) -> str:
    """What is wrong with bytes that are not UTF-8, and where."""
    return f"not UTF-8 text (byte {error.start}); save it as UTF-8"


def text_of(path: Path) -> str:
    """``path``'s text, as UTF-8 (a byte-order mark some editors write is dropped)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(not_text(error)) from None
    except IsADirectoryError:
        raise UnreadableFile("is a folder, not a file") from None
    except OSError as error:
        raise UnreadableFile(f"cannot be read ({error.strerror or error})") from None
