"""Runbooks: Markdown files in ``runbooks/`` with YAML front matter, matched to incidents.

A runbook starts with front matter between two ``---`` lines::

    ---
    title: Payments API error rate is high
    services: [payments-api]
    alerts: [PaymentsHighErrorRate, "Payments*"]
    severity: P2
    checklist:
      - Check the payments-api dashboard for which endpoints fail
      - Look for a deploy in the last hour and roll it back
    ---

and its body answers, under ``##`` headings (matched case-insensitively), what the alert means,
the first diagnostic steps, the common causes and their remediation, and how to validate
recovery. ``runbooks/README.md`` documents the format; ``incident-bot runbooks check`` lints it.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from bot.catalog.runbook_actions import ActionRequest, RunbookAction, RunbookActions, unset_variables
from bot.catalog.services import (
    SERVICE_NAME,
    Catalog,
    LineLoader,
    blank_is_none,
    check_https_url,
    check_service_name,
    close_matches,
    did_you_mean,
    format_loc,
    line_for,
    none_is_empty_list,
    nonempty,
    parse_catalog,
    pydantic_messages,
    strip_text,
    unless_unset,
    where,
    yaml_error_line,
    yaml_error_text,
)
from bot.core.command_text import SEVERITIES
from bot.core.text_files import UnreadableFile, text_of

README = "README.md"
MAX_TITLE = 150
MAX_CHECKLIST_ITEMS = 20
MAX_CHECKLIST_ITEM = 150
MAX_ALERT = 200

# The body's required `##` sections: key (the heading, lowercase) -> the question it answers.
REQUIRED_SECTIONS: dict[str, str] = {
    "what this means": "what the alert or symptom means and the likely user impact",
    "first diagnostic steps": "the first things to look at, in order",
    "common causes and remediation": "the usual causes and how to fix each",
    "validating recovery": "how to confirm the service is healthy again",
}

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_H2 = re.compile(r"^##(?!#)\s*(.*?)\s*#*\s*$")
_GLOB = re.compile(r"[*?\[]")


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Runbook:
    name: str  # the file's stem: payments-api-errors
    path: Path
    title: str
    services: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    severity: str | None = None
    checklist: tuple[str, ...] = ()
    url: str | None = None
    # One-click requests (bot/catalog/runbook_actions.py): buttons on the runbook's war-room message.
    actions: tuple[RunbookAction, ...] = ()
    body: str = ""
    # Every `##` section of the body: the heading, lowercase and without a trailing colon -> its text.
    sections: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    # Where things are in the file, for messages: front-matter path -> line, and the body's first line.
    field_lines: dict[tuple[str | int, ...], int] = field(default_factory=dict, repr=False, hash=False, compare=False)
    body_line: int | None = field(default=None, repr=False, compare=False)

    def action(self, action_id: str) -> RunbookAction | None:
        return next((action for action in self.actions if action.id == action_id), None)

    def missing_sections(self) -> list[str]:
        """The required sections the body lacks (or leaves empty); none when the runbook is a link."""
        if self.url:
            return []
        return [key for key in REQUIRED_SECTIONS if not self.sections.get(key, "").strip()]


class RunbookError(Exception):
    """A runbook file is broken: one line per mistake (``file:line: field: message``)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning"]
    where: str  # runbooks/x.md:3, or a file without a line
    message: str  # field: what is wrong

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


# --------------------------------------------------------------------------- front matter


def _one_is_list(value: Any) -> Any:
    """``services: payments-api`` is the list of one."""
    value = none_is_empty_list(value)
    return [value] if isinstance(value, str) else value


def _title(value: str) -> str:
    if len(value) > MAX_TITLE:
        raise ValueError(f"{len(value)} characters; keep it to {MAX_TITLE}")
    return nonempty(value)


def _alert(value: str) -> str:
    nonempty(value)
    if len(value) > MAX_ALERT or "\n" in value:
        raise ValueError(f"{value[:40]!r}… is not an alert name or pattern")
    return value


def _severity(value: Any) -> Any:
    if value is None:
        return None
    text = str(value).strip().upper()
    if text not in SEVERITIES:
        raise ValueError(f"{value!r} is not a severity; use P1, P2, P3 or P4")
    return text


def _checklist_item(value: str) -> str:
    nonempty(value)
    if len(value) > MAX_CHECKLIST_ITEM:
        raise ValueError(f"{len(value)} characters; keep each step to {MAX_CHECKLIST_ITEM} (it becomes a Slack checkbox)")
    return value


def _checklist(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("give at least one first step, or leave the field out")
    if len(value) > MAX_CHECKLIST_ITEMS:
        raise ValueError(f"{len(value)} steps; keep it to {MAX_CHECKLIST_ITEMS} first steps and put the rest in the body")
    return value


def _lower_name(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


_ServiceRef = Annotated[str, BeforeValidator(_lower_name), AfterValidator(check_service_name)]
_AlertRef = Annotated[str, BeforeValidator(strip_text), AfterValidator(_alert)]
_HttpsURL = Annotated[str | None, BeforeValidator(blank_is_none), unless_unset(check_https_url)]


class _FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, BeforeValidator(strip_text), AfterValidator(_title)]
    services: Annotated[list[_ServiceRef], BeforeValidator(_one_is_list)] = []
    alerts: Annotated[list[_AlertRef], BeforeValidator(_one_is_list)] = []
    severity: Annotated[str | None, BeforeValidator(_severity)] = None
    checklist: Annotated[
        list[Annotated[str, BeforeValidator(strip_text), AfterValidator(_checklist_item)]] | None,
        AfterValidator(lambda v: None if v is None else _checklist(v)),
    ] = None
    url: _HttpsURL = None
    actions: Annotated[RunbookActions, BeforeValidator(none_is_empty_list)] = []


def _action_model(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model of a mapping inside ``actions:``, for an unknown field's hint."""
    if loc[:1] != ("actions",) or len(loc) < 2:
        return None
    if len(loc) == 2:
        return RunbookAction
    return ActionRequest if len(loc) == 3 and loc[2] == "request" else None


def _action_named(raw: dict[str, Any], loc: tuple[str | int, ...]) -> str:
    """``actions[0].request.url`` -> ``actions[0] (rollback).request.url``: which action, by the id the file gives it."""
    text = format_loc(loc)
    actions = raw.get("actions")
    if len(loc) >= 2 and loc[0] == "actions" and isinstance(loc[1], int) and isinstance(actions, list) and loc[1] < len(actions):
        written = actions[loc[1]]
        if isinstance(written, dict) and isinstance(written.get("id"), str):
            head = format_loc(loc[:2])
            return f"{head} ({written['id'][:40]}){text[len(head) :]}"
    return text


def _split_front_matter(text: str) -> tuple[str, str, int] | str:
    """(front matter, body, line where the body starts), or what is wrong."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return "missing: start the file with a line `---`, then title: …, then another `---`"
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    return "no closing `---` line after the front matter"


def _sections(body: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    current: str | None = None
    collected: list[str] = []
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _H2.match(line)
        if heading:
            if current is not None:
                sections[current] = "\n".join(collected).strip()
            current = normalize_heading(heading.group(1))
            collected = []
        elif current is not None:
            collected.append(line)
    if current is not None:
        sections[current] = "\n".join(collected).strip()
    return sections


def normalize_heading(text: str) -> str:
    """``## Validating Recovery:`` -> ``validating recovery``."""
    return " ".join(text.strip().rstrip(":").split()).lower()


@dataclass
class _Parsed:
    runbook: Runbook | None
    problems: list[tuple[int | None, str]]
    # The front matter's service names as written (also when other fields are wrong): (name, line).
    services: list[tuple[str, int | None]] = field(default_factory=list)


def parse_runbook(path: Path) -> tuple[Runbook | None, list[tuple[int | None, str]]]:
    """A runbook file, or None with every problem as (line, "field: message"), by line."""
    parsed = _parse(path)
    return parsed.runbook, parsed.problems


def _parse(path: Path) -> _Parsed:
    parsed = _parse_unsorted(path)
    parsed.problems.sort(key=lambda problem: problem[0] or 0)
    return parsed


def _parse_unsorted(path: Path) -> _Parsed:
    try:
        text = text_of(path)
    except UnreadableFile as error:
        return _Parsed(None, [(None, str(error))])
    split = _split_front_matter(text)
    if isinstance(split, str):
        return _Parsed(None, [(1, f"front matter: {split}")])
    front, body, body_line = split
    loader = LineLoader(front, first_line=2)
    try:
        raw = loader.load_with_lines()
    except yaml.YAMLError as error:
        line = yaml_error_line(error, first_line=2)
        return _Parsed(None, [(line, f"front matter: not valid YAML ({yaml_error_text(error)})")])
    problems: list[tuple[int | None, str]] = [(line, f"{format_loc(loc)}: written twice; keep one") for loc, line in loader.duplicate_keys]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return _Parsed(None, problems + [(2, "front matter: expected fields (title: …), one a line")])
    services: list[tuple[str, int | None]] = []
    written = raw.get("services")
    if isinstance(written, (str, list)):
        for position, name in enumerate([written] if isinstance(written, str) else written):
            if isinstance(name, str) and SERVICE_NAME.match(name.strip().lower()):
                loc: tuple[str | int, ...] = ("services", position) if isinstance(written, list) else ("services",)
                services.append((name.strip().lower(), line_for(loader.lines, loc)))
    try:
        front_matter = _FrontMatter.model_validate(raw)
    except ValidationError as error:
        for loc, message in pydantic_messages(error, _FrontMatter, nested=_action_model):
            line = line_for(loader.lines, loc) if loc and loc[0] in raw else 1
            problems.append((line, f"{_action_named(raw, loc) or 'front matter'}: {message}"))
    if problems:
        return _Parsed(None, problems, services)
    runbook = Runbook(
        name=path.stem,
        path=path,
        title=front_matter.title,
        services=tuple(front_matter.services),
        alerts=tuple(front_matter.alerts),
        severity=front_matter.severity,
        checklist=tuple(front_matter.checklist or ()),
        url=front_matter.url,
        actions=tuple(front_matter.actions),
        body=body.strip(),
        sections=_sections(body),
        field_lines=dict(loader.lines),
        body_line=body_line,
    )
    return _Parsed(runbook, [], services)


def runbook_files(folder: Path) -> list[Path]:
    """Every ``*.md`` of the folder except README.md, by name."""
    return sorted(
        (path for path in Path(folder).glob("*.md") if path.name.lower() != README.lower() and path.is_file()),
        key=lambda path: path.name,
    )


def load_runbooks(folder: Path) -> list[Runbook]:
    """Every runbook of the folder, by name. Broken front matter in any file raises one
    ``RunbookError`` listing every mistake; a body without its sections still loads (``check``
    reports it), so the bot can still show the checklist."""
    folder = Path(folder)
    runbooks: list[Runbook] = []
    problems: list[str] = []
    for path in runbook_files(folder):
        runbook, found = parse_runbook(path)
        problems.extend(f"{where(path, line)}: {message}" for line, message in found)
        if runbook is not None:
            runbooks.append(runbook)
    if problems:
        raise RunbookError(problems)
    return runbooks


# --------------------------------------------------------------------------- matching


def _alert_match(runbook: Runbook, alert: str | None) -> int:
    """2: an alert name matches exactly (case-insensitively); 1: a pattern matches; 0: neither."""
    if not alert:
        return 0
    wanted = alert.strip().lower()
    best = 0
    for entry in runbook.alerts:
        entry_lower = entry.lower()
        if entry_lower == wanted:
            return 2
        if _GLOB.search(entry) and fnmatch.fnmatchcase(wanted, entry_lower):
            best = 1
    return best


def match_runbooks(runbooks: Iterable[Runbook], *, service: str | None, alert: str | None = None) -> list[Runbook]:
    """The runbooks for an incident, most specific first:

    1. an alert name matched exactly, and the service; 2. an alert name matched exactly;
    3. an alert pattern matched, and the service; 4. an alert pattern matched; 5. the service only.

    Ties go by name. Runbooks matching neither the alert nor the service are left out.
    """
    wanted_service = service.strip().lower() if service else None
    ranked: list[tuple[int, str, Runbook]] = []
    for runbook in runbooks:
        by_alert = _alert_match(runbook, alert)
        by_service = wanted_service is not None and wanted_service in runbook.services
        if by_alert == 2:
            rank = 0 if by_service else 1
        elif by_alert == 1:
            rank = 2 if by_service else 3
        elif by_service:
            rank = 4
        else:
            continue
        ranked.append((rank, runbook.name, runbook))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [runbook for _, _, runbook in ranked]


def find_runbook(runbooks: Iterable[Runbook], name: str) -> Runbook | None:
    """The runbook named ``name`` (its file's stem, ``.md`` optional), case-insensitively."""
    wanted = name.strip().lower().removesuffix(".md")
    for runbook in runbooks:
        if runbook.name.lower() == wanted:
            return runbook
    return None


# --------------------------------------------------------------------------- lint


@dataclass(frozen=True)
class CheckReport:
    problems: list[Problem]
    runbooks: int  # how many runbook files were checked
    services: int  # how many services the catalog holds

    @property
    def errors(self) -> int:
        return sum(1 for problem in self.problems if problem.level == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for problem in self.problems if problem.level == "warning")

    def summary(self) -> str:
        def count(number: int, word: str) -> str:
            return f"{number} {word}{'' if number == 1 else 's'}"

        return (
            f"{count(self.errors, 'error')}, {count(self.warnings, 'warning')} in "
            f"{count(self.runbooks, 'runbook')} and {count(self.services, 'service')}"
        )


def check(folder: Path, catalog_path: Path, *, catalog_required: bool = False) -> list[Problem]:
    """Lint the runbooks of ``folder`` against the catalog; see ``check_report``."""
    return check_report(folder, catalog_path, catalog_required=catalog_required).problems


def check_report(folder: Path, catalog_path: Path, *, catalog_required: bool = False) -> CheckReport:
    """Every problem of the runbooks and the catalog, files in name order, lines in order.

    Errors: broken front matter, missing or malformed fields, missing body sections (unless the
    runbook has a ``url``), a runbook naming a service the catalog lacks, a catalog ``runbook``
    naming no file, every problem of the catalog itself. Warnings: a service no runbook covers,
    a runbook that matches nothing (no services, no alerts), a runbook without a checklist,
    no catalog file (unless ``catalog_required``, then it is an error).
    """
    folder = Path(folder)
    catalog_path = Path(catalog_path)
    problems: list[Problem] = []
    order: list[tuple[str, int]] = []  # per problem: its file and line, to sort by

    def add(level: Literal["error", "warning"], path: Path | str, line: int | None, message: str) -> None:
        problems.append(Problem(level, where(path, line), message))
        order.append((str(path), line or 0))

    if not folder.is_dir():
        what = "is a file, not a folder of runbooks" if folder.exists() else "no such folder"
        add("error", folder, None, f"{what} (run from the repository root, or pass --dir)")
        return CheckReport(problems, 0, 0)

    # The catalog.
    catalog = Catalog.empty()
    have_catalog = catalog_path.is_file()
    if have_catalog:
        catalog, catalog_problems = parse_catalog(catalog_path)
        for line, message in catalog_problems:
            add("error", catalog_path, line, message)
    elif catalog_path.exists():
        add("error", catalog_path, None, "is not a file")
    else:
        add(
            "error" if catalog_required else "warning",
            catalog_path,
            None,
            "file not found; service names are not checked",
        )

    # The runbooks.
    files = runbook_files(folder)
    runbooks: list[Runbook] = []
    covered: set[str] = set()  # services some runbook lists (also a runbook with other mistakes)
    seen_lower: dict[str, Path] = {}
    for path in files:
        lower = path.stem.lower()
        if lower in seen_lower:
            add("error", path, None, f"name: differs from {seen_lower[lower].name} only in case; rename one")
        seen_lower.setdefault(lower, path)
        parsed = _parse(path)
        covered.update(name for name, _ in parsed.services)
        for line, message in parsed.problems:
            add("error", path, line, message)
        if have_catalog:
            known = sorted(catalog.indexes)
            for name, line in parsed.services:
                if name not in catalog.indexes:
                    hint = did_you_mean(close_matches(name, known, n=1))
                    add("error", path, line, f"services: unknown service {name!r}{hint}")
        runbook = parsed.runbook
        if runbook is None:
            continue
        runbooks.append(runbook)
        body_line = runbook.body_line
        for key in runbook.missing_sections():
            heading = key[0].upper() + key[1:]
            if key in runbook.sections:
                add("error", path, body_line, f"body: section '## {heading}' is empty; say {REQUIRED_SECTIONS[key]}")
            else:
                add("error", path, body_line, f"body: missing section '## {heading}' ({REQUIRED_SECTIONS[key]})")
        if not runbook.services and not runbook.alerts:
            add("warning", path, 1, "front matter: no services and no alerts, so no incident will suggest it")
        if not runbook.checklist and not runbook.url:
            add("warning", path, 1, "checklist: none; the war room will show no first steps")
        for index, action in enumerate(runbook.actions):
            for variable in unset_variables([action], os.environ):
                add(
                    "warning",
                    path,
                    runbook.field_lines.get(("actions", index, "request", "headers")) or runbook.field_lines.get(("actions", index)),
                    f"actions[{index}] ({action.id}).request.headers: {variable} is not set in this environment, so the action "
                    f"cannot run; set {variable} where the bot runs (the file names the variable, never its value)",
                )

    # The catalog's links to runbooks, and the services no runbook covers.
    names = {path.stem.lower() for path in files}
    for name, service in catalog.services.items():
        reference = service.runbook_name
        if reference is not None and reference.lower() not in names:
            matches = difflib.get_close_matches(reference, [runbook.name for runbook in runbooks], n=1, cutoff=0.6)
            field_name = f"services[{catalog.indexes[name]}].runbook"
            message = f"{field_name}: no runbook {reference}.md in {folder}{did_you_mean(matches)}"
            add("error", catalog_path, catalog.line_of(name, "runbook"), message)
        if service.pagerduty is not None and not os.environ.get(service.pagerduty.routing_key_env, "").strip():
            variable = service.pagerduty.routing_key_env
            add(
                "warning",
                catalog_path,
                catalog.line_of(name, "pagerduty"),
                f"services[{catalog.indexes[name]}].pagerduty.routing_key_env: {variable} is not set in this environment, so "
                f"{name} cannot be paged through PagerDuty; set {variable} to the Events API v2 integration key of its PagerDuty service",
            )
        if name not in covered and not service.runbook:
            add(
                "warning",
                catalog_path,
                catalog.line_of(name),
                f"services[{catalog.indexes[name]}]: no runbook for {name!r} (list it under a runbook's services, or set its runbook)",
            )
    # The catalog first, then the runbooks by name; within a file, by line (stable otherwise).
    file_rank: dict[str, int] = {str(catalog_path): -1}
    for file, _ in order:
        file_rank.setdefault(file, len(file_rank))
    ranked = sorted(range(len(problems)), key=lambda i: (file_rank[order[i][0]], order[i][1]))
    return CheckReport([problems[i] for i in ranked], len(files), len(catalog.services))
