"""Text as people and pipelines send it, made storable: no NUL or other control characters
(PostgreSQL refuses NUL in text; none of them means anything in a title or a note) and no lone
UTF-16 surrogates (JSON allows them, UTF-8 cannot encode them). Tabs and line breaks stay."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def storable(text: str) -> str:
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", text)
