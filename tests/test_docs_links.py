"""The docs point at things that exist: every relative link (and its #anchor), every path of the
repository and every module they name, and the formulas they quote are the code's own.

Files move (bot/ was regrouped into packages); a doc that names the old place sends a newcomer
nowhere. Pure: reads Markdown and looks at the file system, no database, no Slack.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import itertools
import re
import textwrap
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))
# Every Markdown file of the repository (docs/, README.md, and the READMEs of runbooks/, tests/data/,
# benchmarks/ ...), not the virtualenv's or a hidden folder's.
DOCS = sorted(path for path in ROOT.rglob("*.md") if not any(part.startswith(".") for part in path.relative_to(ROOT).parts))
REPOSITORY_PATH = re.compile(r"(?<![\w./<-])((?:bot|handlers|storage|tests|runbooks|benchmarks)/[\w./*-]*)")
FILE_NAME = re.compile(r"\.\w+$")
MODULE_NAME = re.compile(r"(?:bot|handlers|storage)(?:\.\w+)+")
PARSER = MarkdownIt("commonmark").enable("table")


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def tokens(path: Path) -> list[Token]:
    return PARSER.parse(path.read_text(encoding="utf-8"))


def inline_children(path: Path):
    for token in tokens(path):
        if token.type == "inline":
            yield from token.children or []


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces made hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    parsed = tokens(path)
    for opening, inline in itertools.pairwise(parsed):
        if opening.type != "heading_open":
            continue
        slug = github_anchor("".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline")))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    hrefs = [child.attrs["href"] for child in inline_children(path) if child.type == "link_open"]
    return [str(href) for href in hrefs if not re.match(r"[a-z][a-z0-9+.-]*:", str(href))]


def broken_links(path: Path) -> list[str]:
    broken = []
    for href in relative_links(path):
        target, _, anchor = href.partition("#")
        target_path = (path.parent / target).resolve() if target else path
        if not target_path.exists():
            broken.append(f"{href}: no such file")
        elif anchor and target_path.suffix == ".md" and anchor not in anchors(target_path):
            broken.append(f"{href}: no heading #{anchor} in {doc_id(target_path)}")
    return broken


def named_paths(path: Path) -> set[str]:
    """Repository paths named in code spans, and file names in prose (where "bot/bare" may be a
    ratio); not in code blocks, which hold commands."""
    names: set[str] = set()
    for child in inline_children(path):
        if child.type == "code_inline":
            names |= {name.rstrip(".") for name in REPOSITORY_PATH.findall(child.content)}
        elif child.type == "text":
            names |= {name.rstrip(".") for name in REPOSITORY_PATH.findall(child.content) if FILE_NAME.search(name.rstrip("."))}
    return names


def missing_paths(path: Path) -> list[str]:
    return sorted(name for name in named_paths(path) if not (any(ROOT.glob(name)) if "*" in name else (ROOT / name).exists()))


def missing_modules(path: Path) -> list[str]:
    named = {child.content for child in inline_children(path) if child.type == "code_inline" and MODULE_NAME.fullmatch(child.content)}
    return sorted(name for name in named if not importable(name))


def importable(name: str) -> bool:
    """A module, or an attribute of one (``handlers.web.start_http``)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if found:
            value: object = importlib.import_module(module)
            for attribute in parts[cut:]:
                if not hasattr(value, attribute):
                    return False
                value = getattr(value, attribute)
            return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_relative_link_and_anchor_leads_somewhere(doc):
    assert broken_links(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_repository_path_named_exists(doc):
    assert missing_paths(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_module_named_exists(doc):
    assert missing_modules(doc) == []


def test_the_readme_links_every_page_of_the_docs():
    linked = {(ROOT / href.partition("#")[0]).resolve() for href in relative_links(ROOT / "README.md")}
    assert [doc_id(page) for page in PAGES if page.resolve() not in linked] == []


def test_the_checks_see_a_broken_link_a_missing_anchor_a_missing_path_and_module(tmp_path):
    """The checks themselves: a doc naming what does not exist is reported, one that does is not."""
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## A section, with `code`\n\n"
        "[ok](#a-section-with-code) [gone](nowhere.md) [bad anchor](#no-such-heading) [web](https://example.com)\n\n"
        "See `bot/no_such_module.py`, bot/core/phases.py, bot/gone.py and the ratio bot/bare, `bot/warroom/` and `bot/nowhere`;\n"
        "`bot.core.phases`, `bot.core.phases.Stamp`, `bot.core.phases.Nothing`, `bot.no_such_package`, `bot.nope.deeper`.\n\n"
        "```sh\nbot/only_in_a_command_block.py\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["nowhere.md: no such file", "#no-such-heading: no heading #no-such-heading in page.md"]
    assert named_paths(page) == {"bot/no_such_module.py", "bot/core/phases.py", "bot/gone.py", "bot/warroom/", "bot/nowhere"}
    assert missing_paths(page) == ["bot/gone.py", "bot/no_such_module.py", "bot/nowhere"]
    assert missing_modules(page) == ["bot.core.phases.Nothing", "bot.no_such_package", "bot.nope.deeper"]


def docstring(module: str) -> str:
    return ast.get_docstring(ast.parse((ROOT / module).read_text(encoding="utf-8"))) or ""


def test_the_formulas_in_the_analytics_page_are_the_codes_own():
    """docs/analytics.md quotes each formula block word for word from the module that computes it,
    so a formula changed in the code and not in the docs (or the other way round) fails here."""
    sources = [docstring(module) for module in ("bot/core/phases.py", "bot/analytics/summary.py", "bot/analytics/stats.py")]
    quoted = [token.content.rstrip("\n") for token in tokens(ROOT / "docs/analytics.md") if token.type == "fence" and token.info == "text"]
    assert len(quoted) == 4
    for block in quoted:
        assert any(block in textwrap.dedent(source) or textwrap.indent(block, "    ") in source for source in sources), block


def _example_settings() -> dict[str, str]:
    example = ROOT / ".env.example"
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", example.read_text(encoding="utf-8"), re.MULTILINE))


def test_env_example_sets_every_setting_and_nothing_else():
    """.env.example is where a new operator meets the settings: each of the settings model's, once."""
    from bot.settings import Settings

    expected = {field.alias for field in Settings.model_fields.values()}
    written = _example_settings()
    assert sorted(expected - written.keys()) == [], "settings .env.example does not explain"
    assert sorted(written.keys() - expected) == [], "names in .env.example that are not settings"


def test_env_example_loads_once_its_two_secrets_are_filled_in(tmp_path, monkeypatch):
    from bot.settings import load_settings

    env = tmp_path / ".env"
    env.write_text((ROOT / ".env.example").read_text(encoding="utf-8").replace("your-signing-secret", "8f742231b10e8888abcd99aaabbb85a5"))
    monkeypatch.chdir(ROOT)  # its relative paths (the runbooks folder) are the clone's
    for name in _example_settings():
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(env)
    assert settings.slack_bot_token == "xoxb-your-bot-token" and settings.service_catalog is None
