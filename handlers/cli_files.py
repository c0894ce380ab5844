"""Files the command line writes where a person asked (``--output``, ``--chart``): when one cannot
be written, one line naming the option, the path and why, never a traceback."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

IS_A_FOLDER = "it is a folder: name a file in it"
NO_NAME = "it is empty: name a file"


def cannot_write(option: str, path: str, error: OSError) -> None:
    shown = path or "''"
    print(f"incident-bot: cannot write {option} {shown}: {error.strerror or error}", file=sys.stderr)


def file_to_write(path: str) -> Path:
    """``path`` as a file to write; raises IsADirectoryError for a folder ("." too, which has no
    file name) and FileNotFoundError for an empty path (which Path reads as ".")."""
    if not path:
        raise FileNotFoundError(errno.ENOENT, NO_NAME)
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, IS_A_FOLDER)
    return target


def write_file(option: str, path: str, content: str | bytes) -> bool:
    """``content`` written to ``path`` (text as UTF-8); False, having said why, when it cannot be."""
    try:
        target = file_to_write(path)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    except OSError as error:
        cannot_write(option, path, error)
        return False
    return True
