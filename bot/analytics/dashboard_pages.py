"""The dashboard's HTML: Jinja2 templates (templates/dashboard/), rendered on the server with every
value escaped (autoescape: a title of ``<script>`` shows as those characters), no JavaScript.
Pure: takes view models (bot.analytics.dashboard_cards), returns text."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent / "templates" / "dashboard"
_SVG_START = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_SVG_SIZE = re.compile(r'(<svg\b[^>]*?)\s(width|height)="[^"]*"')


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent_width"] = lambda share: f"{max(0.0, min(float(share), 1.0)) * 100:.2f}%"
    return environment


def inline_svg(svg: bytes, label: str) -> Markup:
    """matplotlib's SVG, inlined: without its XML prologue, sized by the page (it scales to a phone's
    width), named for screen readers. The SVG is drawn by the bot from numbers: no typed text."""
    text = _SVG_START.sub("", svg.decode("utf-8"), count=1)
    while _SVG_SIZE.search(text.split(">", 1)[0] + ">"):
        text = _SVG_SIZE.sub(r"\1", text, count=1)
    aria = str(Markup.escape(label))
    return Markup(text.replace("<svg", f'<svg role="img" aria-label="{aria}" class="chart"', 1))


def render(page: str, **context: Any) -> str:
    """One page (``overview.html``, ``incident.html``…) with its context."""
    return _environment().get_template(page).render(**context)
