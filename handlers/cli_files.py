"""Files the command line writes where a person asked (``--output``, ``--chart``): when one cannot
be written, one line naming the option, the path and why, never a traceback."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

IS_A_FOLDER = "it is a folder: name a file in it"


def cannot_write(option: str, path: str, error: OSError) -> None:
    print(f"incident-bot: cannot write {option} {path}: {error.strerror or error}", file=sys.stderr)


def refuse_a_folder(target: Path) -> None:
    """Raises IsADirectoryError for a folder ("." and "" too, which have no file name)."""
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, IS_A_FOLDER)


def write_file(option: str, path: str, content: str | bytes) -> bool:
    """``content`` written to ``path`` (text as UTF-8); False, having said why, when it cannot be."""
    target = Path(path)
    try:
        refuse_a_folder(target)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    except OSError as error:
        cannot_write(option, path, error)
        return False
    return True
