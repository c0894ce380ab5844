"""The service catalog (``runbooks/catalog.yml``): who owns each service, who is on call, where its
dashboard and runbook are, what it depends on and where its team's digest goes.

Validated with pydantic. A bad file gives one message per problem, each naming the file, the line
(found by loading the YAML with a loader that remembers where every node starts) and the field::

    runbooks/catalog.yml:14: services[2].dashboard: not a URL (https://…)

Besides each field's form, the whole file is cross-checked: service names are unique and every
dependency names a service of the catalog. Whether a ``runbook`` names an existing file is left to
``incident-bot runbooks check`` (see ``bot/catalog/runbooks.py``): a missing runbook does not stop the bot.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from bot.core.text_files import UnreadableFile, text_of

DEFAULT_PATH = Path("runbooks/catalog.yml")

# The same rule as bot.core.command_text.parse_service (what people type in `service:payments-api`).
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USERGROUP_ID = re.compile(r"^S[A-Z0-9]{6,}$")
USERGROUP_HANDLE = re.compile(r"^@?[a-z0-9][a-z0-9._-]{0,79}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
HTTP_URL = re.compile(r"^https?://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?$|^https?://localhost(?::\d+)?(?:[/?#]\S*)?$")
RUNBOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

Location = tuple[str | int, ...]


# --------------------------------------------------------------------------- YAML with line numbers


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that also records the line (1-based) where each node starts, by path.

    ``lines[("services", 2, "dashboard")]`` is the line of the ``dashboard:`` key of the third
    service; ``lines[("services", 2)]`` the line where that service's mapping starts. Paths use
    the same parts as pydantic's error ``loc``, so an error can be placed in the file. Keys
    written twice in one mapping (which YAML would silently collapse) are recorded too.
    """

    def __init__(self, stream: str, *, first_line: int = 1) -> None:
        super().__init__(stream)
        self.first_line = first_line
        self.lines: dict[Location, int] = {}
        self.duplicate_keys: list[tuple[Location, int]] = []

    def line_of(self, node: yaml.Node) -> int:
        return node.start_mark.line + self.first_line

    def load_with_lines(self) -> Any:
        try:
            node = self.get_single_node()
            if node is None:
                return None
            self._record(node, ())
            return self.construct_document(node)
        finally:
            self.dispose()

    def _record(self, node: yaml.Node, path: Location) -> None:
        self.lines.setdefault(path, self.line_of(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                if key in seen:
                    self.duplicate_keys.append((path + (key,), self.line_of(key_node)))
                    continue
                seen.add(key)
                # The key's line: for a block value (`owners:` then items below) it names the field.
                self.lines[path + (key,)] = self.line_of(key_node)
                self._record_children(value_node, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            self._record_children(node, path)

    def _record_children(self, node: yaml.Node, path: Location) -> None:
        if isinstance(node, yaml.MappingNode):
            self._record(node, path)
        elif isinstance(node, yaml.SequenceNode):
            self.lines.setdefault(path, self.line_of(node))
            for index, item in enumerate(node.value):
                self.lines[path + (index,)] = self.line_of(item)
                self._record_children(item, path + (index,))


def yaml_error_line(error: yaml.YAMLError, first_line: int = 1) -> int | None:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + first_line if mark is not None else None


def yaml_error_text(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    return f"{context}, {problem}" if context else str(problem)


def format_loc(loc: Iterable[str | int]) -> str:
    """``("services", 2, "dashboard")`` -> ``services[2].dashboard``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def line_for(lines: dict[Location, int], loc: Location) -> int | None:
    """The line of the longest prefix of ``loc`` that the file has (a missing field: its mapping)."""
    for end in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return None


def where(path: Path | str, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


_FRIENDLY = {
    "missing": "required",
    "string_type": "should be text",
    "list_type": "should be a list, e.g. [a, b]",
    "model_type": "should be a mapping of fields",
    "dict_type": "should be a mapping of fields",
    "model_attributes_type": "should be a mapping of fields",
    "int_type": "should be a whole number",
    "bool_type": "should be true or false",
}


def pydantic_messages(
    error: ValidationError, model: type[BaseModel], *, nested: Callable[[Location], type[BaseModel] | None] = lambda loc: None
) -> list[tuple[Location, str]]:
    """Each pydantic error as (loc, short message), in the words a YAML editor understands.
    ``nested`` names the model of a mapping deeper in the file (by its loc), for the known fields."""
    out: list[tuple[Location, str]] = []
    for item in error.errors():
        loc: Location = tuple(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            fields = list((nested(loc[:-1]) or model).model_fields)
            known = ", ".join(fields)
            guess = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
            message = f"unknown field (did you mean {guess[0]}?)" if guess else f"unknown field (known fields: {known})"
        elif kind in _FRIENDLY:
            message = _FRIENDLY[kind]
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
        out.append((loc, message))
    return out


# --------------------------------------------------------------------------- fields


def strip_text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def none_is_empty_list(value: Any) -> Any:
    return [] if value is None else value


def blank_is_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return strip_text(value)


def check_service_name(value: str) -> str:
    if not SERVICE_NAME.match(value):
        hint = f" (use {value.lower()!r})" if SERVICE_NAME.match(value.lower()) else ""
        raise ValueError(f"{value!r} is not a service name{hint}: lowercase letters, digits, '.', '_' or '-', up to 80 characters")
    return value


def _user(value: str) -> str:
    if USER_ID.match(value) or EMAIL.match(value):
        return value
    raise ValueError(f"{value!r} is neither a Slack user ID (U012ABCDEF) nor an email address")


def _usergroup(value: str) -> str:
    if USERGROUP_ID.match(value) or USERGROUP_HANDLE.match(value):
        return value
    raise ValueError(f"{value!r} is neither a Slack user group ID (S0123ABCD) nor a handle (@payments-oncall)")


def _url(value: str) -> str:
    if not HTTP_URL.match(value):
        raise ValueError("not a URL (https://…)")
    return value


def check_https_url(value: str) -> str:
    if not value.startswith("https://") or not HTTP_URL.match(value):
        raise ValueError(f"{value!r} is not an https URL (https://wiki.example.com/…)")
    return value


def _runbook_ref(value: str) -> str:
    if value.startswith(("http://", "https://")):
        return check_https_url(value)
    if value.lower().endswith(".md"):
        raise ValueError(f"give the runbook's name without .md ({value[:-3]!r})")
    if not RUNBOOK_NAME.match(value):
        raise ValueError(f"{value!r} is neither a runbook name (a file in runbooks/ without .md) nor an https URL")
    return value


def _channel(value: str) -> str:
    if not CHANNEL_ID.match(value):
        raise ValueError(f"{value!r} is not a channel ID (C0123456789); use the ID, not the #name")
    return value


def nonempty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def unless_unset(check: Callable[[str], str]) -> AfterValidator:
    """For an optional text field (``blank_is_none`` before it): ``check`` validates a value that is set."""
    return AfterValidator(lambda v: None if v is None else check(v))


ServiceName = Annotated[str, BeforeValidator(strip_text), AfterValidator(check_service_name)]
UserRef = Annotated[str, BeforeValidator(strip_text), AfterValidator(_user)]
# Written out, not built by a function: mypy reads an alias only from an Annotated[...] expression.
OptionalUser = Annotated[str | None, BeforeValidator(blank_is_none), unless_unset(_user)]
OptionalUsergroup = Annotated[str | None, BeforeValidator(blank_is_none), unless_unset(_usergroup)]
OptionalURL = Annotated[str | None, BeforeValidator(blank_is_none), unless_unset(_url)]
OptionalHttpsURL = Annotated[str | None, BeforeValidator(blank_is_none), unless_unset(check_https_url)]
OptionalRunbook = Annotated[str | None, BeforeValidator(blank_is_none), unless_unset(_runbook_ref)]
OptionalChannel = Annotated[str | None, BeforeValidator(blank_is_none), unless_unset(_channel)]


ENV_VAR_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_ROUTING_KEY_FORM = "pagerduty: {routing_key_env: PAGERDUTY_PAYMENTS_KEY} (the name of an environment variable holding the key)"


def _pagerduty_by_reference(value: Any) -> Any:
    """A routing key is a secret: the file names the environment variable that holds it, never the key."""
    if value is None or isinstance(value, BaseModel):
        return value
    if isinstance(value, dict) and ("routing_key" in value or "integration_key" in value):
        raise ValueError(
            f"never write the routing key itself in the catalog; put it in an environment variable and write {_ROUTING_KEY_FORM}"
        )
    if not isinstance(value, dict):
        raise ValueError(f"write {_ROUTING_KEY_FORM}, not a key or a name by itself")
    return value


def _env_var_name(value: str) -> str:
    if not ENV_VAR_NAME.match(value):
        raise ValueError(
            f"{value[:3]}… is not an environment variable's name: write the variable's name in capitals, e.g. PAGERDUTY_PAYMENTS_KEY, "
            "and put the key in that variable"
        )
    return value


class PagerDutyRouting(BaseModel):
    """Where a service's PagerDuty events go: the environment variable that holds its Events API v2
    routing (integration) key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routing_key_env: Annotated[str, BeforeValidator(strip_text), AfterValidator(_env_var_name)]


class Service(BaseModel):
    """One entry of the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ServiceName
    team: Annotated[str, BeforeValidator(strip_text), AfterValidator(nonempty)]
    owners: Annotated[list[UserRef], BeforeValidator(none_is_empty_list)] = []
    oncall_group: OptionalUsergroup = None
    escalation: OptionalUser = None
    # A second line for escalations (e.g. the team leads' group), paged with the contact.
    escalation_group: OptionalUsergroup = None
    # Who may be invited into a PRIVATE incident's war room when it escalates (a security lead);
    # without one, a private incident's escalation pages by a direct message without its title.
    private_escalation: OptionalUser = None
    # The team lead: the last level of the default escalation chain (``service_lead``).
    lead: OptionalUser = None
    # The team's standing call bridge (https), the war room's call link; without one a meeting is generated.
    call: OptionalHttpsURL = None
    dashboard: OptionalURL = None
    runbook: OptionalRunbook = None
    upstream: Annotated[list[ServiceName], BeforeValidator(none_is_empty_list)] = []
    downstream: Annotated[list[ServiceName], BeforeValidator(none_is_empty_list)] = []
    digest_channel: OptionalChannel = None
    pagerduty: Annotated[PagerDutyRouting | None, BeforeValidator(_pagerduty_by_reference)] = None

    @property
    def owner_user_ids(self) -> list[str]:
        return [owner for owner in self.owners if USER_ID.match(owner)]

    @property
    def owner_emails(self) -> list[str]:
        return [owner for owner in self.owners if EMAIL.match(owner)]

    @property
    def oncall_group_id(self) -> str | None:
        group = self.oncall_group
        return group if group and USERGROUP_ID.match(group) else None

    @property
    def escalation_group_id(self) -> str | None:
        group = self.escalation_group
        return group if group and USERGROUP_ID.match(group) else None

    @property
    def escalation_group_handle(self) -> str | None:
        group = self.escalation_group
        return group.removeprefix("@") if group and not USERGROUP_ID.match(group) else None

    @property
    def oncall_group_handle(self) -> str | None:
        group = self.oncall_group
        return group.removeprefix("@") if group and not USERGROUP_ID.match(group) else None

    @property
    def runbook_url(self) -> str | None:
        """The catalog's runbook when it is a link rather than a file's name."""
        return self.runbook if self.runbook and self.runbook.startswith("https://") else None

    @property
    def runbook_name(self) -> str | None:
        """The catalog's runbook when it names a file in runbooks/ (without .md)."""
        return self.runbook if self.runbook and not self.runbook.startswith("https://") else None


# --------------------------------------------------------------------------- the catalog


class CatalogError(Exception):
    """The catalog file is wrong: one line per problem, each naming the file, line and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class Catalog:
    def __init__(self, services: dict[str, Service] | None = None, path: Path | None = None) -> None:
        self.services: dict[str, Service] = dict(services or {})
        self.path = path
        # Where each service and field is in the file (path -> line), and each name written in the
        # file (also of entries with mistakes) -> its position under services; empty when built in code.
        self.lines: dict[Location, int] = {}
        self.indexes: dict[str, int] = {}

    @classmethod
    def empty(cls) -> Catalog:
        return cls({}, None)

    @property
    def is_empty(self) -> bool:
        return not self.services

    def __len__(self) -> int:
        return len(self.services)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self.services

    def __repr__(self) -> str:
        return f"Catalog({self.names()!r}, path={self.path!r})"

    def get(self, name: str | None) -> Service | None:
        if not name:
            return None
        return self.services.get(name.strip().lower())

    def names(self) -> list[str]:
        """Every service's name, sorted."""
        return sorted(self.services)

    def close_matches(self, name: str, n: int = 3) -> list[str]:
        """Names that look like ``name`` (a typo, or the name without its suffix), best first."""
        return close_matches(name, self.names(), n)

    def upstream_of(self, name: str) -> list[str]:
        """The services ``name`` depends on directly: its own ``upstream`` list, then the services
        that list it under ``downstream``; only services of the catalog, each once."""
        service = self.get(name)
        if service is None:
            return []
        found = [dep for dep in service.upstream if dep in self.services and dep != service.name]
        for other in self.names():
            if other not in found and other != service.name and service.name in self.services[other].downstream:
                found.append(other)
        return found

    def line_of(self, name: str, field: str | None = None) -> int | None:
        """The line in the file of a service (or one of its fields), when loaded from a file."""
        index = self.indexes.get(name)
        if index is None:
            return None
        loc: Location = ("services", index) + ((field,) if field else ())
        return line_for(self.lines, loc)


def close_matches(name: str, names: list[str], n: int = 3) -> list[str]:
    """difflib's close matches of ``name`` among ``names``, then names it is a prefix of (or that
    are a prefix of it: ``payments`` -> ``payments-api``), best first, at most ``n``."""
    wanted = name.strip().lower()
    matches = difflib.get_close_matches(wanted, names, n=n, cutoff=0.6)
    if len(matches) < n and wanted:
        for candidate in names:
            if candidate not in matches and (candidate.startswith(wanted) or wanted.startswith(candidate)):
                matches.append(candidate)
                if len(matches) == n:
                    break
    return matches


def did_you_mean(matches: list[str]) -> str:
    if not matches:
        return ""
    return f" (did you mean {' or '.join(matches)}?)"


def parse_catalog(path: Path) -> tuple[Catalog, list[tuple[int | None, str]]]:
    """The catalog's valid services and every problem as (line, "field: message"), by line.

    The file must exist. Never raises for the file's content: ``load_catalog`` turns the
    problems into a ``CatalogError``; ``runbooks check`` reports them next to its own.
    """
    catalog = Catalog({}, path)
    problems = _parse_catalog(path, catalog)
    problems.sort(key=lambda problem: problem[0] or 0)  # stable: a line's problems stay in field order
    return catalog, problems


def _parse_catalog(path: Path, catalog: Catalog) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    try:
        text = text_of(path)
    except UnreadableFile as error:
        return [(None, str(error))]
    loader = LineLoader(text)
    try:
        raw = loader.load_with_lines()
    except yaml.YAMLError as error:
        return [(yaml_error_line(error), f"not valid YAML ({yaml_error_text(error)})")]
    lines = catalog.lines = loader.lines
    for loc, line in loader.duplicate_keys:
        problems.append((line, f"{format_loc(loc)}: written twice; keep one"))
    if raw is None:
        return problems
    if not isinstance(raw, dict):
        return problems + [(1, "expected a mapping with a `services:` list at the top level")]
    for key in raw:
        if key != "services":
            problems.append((lines.get((str(key),)), f"{key}: unknown field (the file holds `services:`, a list)"))
    entries = raw.get("services")
    if entries is None:
        return problems
    if not isinstance(entries, list):
        return problems + [(lines.get(("services",)), "services: should be a list of services (- name: …)")]

    # Names as written, also of entries with other mistakes, so that every problem shows at once.
    written: dict[int, str] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            name = entry["name"].strip()
            if SERVICE_NAME.match(name):
                written[index] = name
    first_index: dict[str, int] = {}
    duplicates: set[int] = set()
    for index, name in written.items():
        if name in first_index:
            other = first_index[name]
            duplicates.add(index)
            problems.append(
                (
                    line_for(lines, ("services", index, "name")),
                    f"services[{index}].name: duplicate service {name!r} "
                    f"(also services[{other}], line {line_for(lines, ('services', other, 'name'))})",
                )
            )
        else:
            first_index[name] = index
    catalog.indexes = dict(first_index)

    for index, entry in enumerate(entries):
        try:
            service = Service.model_validate(entry)
        except ValidationError as error:
            for loc, message in pydantic_messages(error, Service):
                full = ("services", index) + loc
                problems.append((line_for(lines, full), f"{format_loc(full)}: {message}"))
        else:
            if index not in duplicates:
                catalog.services[service.name] = service
        # Cross-checks: every dependency is a service of this catalog, and not the service itself.
        if not isinstance(entry, dict):
            continue
        for field in ("upstream", "downstream"):
            deps = entry.get(field)
            if not isinstance(deps, list):
                continue
            for position, dep in enumerate(deps):
                if not isinstance(dep, str) or not SERVICE_NAME.match(dep.strip()):
                    continue  # the field's own validation reports it
                dep = dep.strip()
                loc = ("services", index, field, position)
                if dep == written.get(index):
                    problems.append((line_for(lines, loc), f"{format_loc(loc)}: {dep!r} cannot depend on itself"))
                elif dep not in first_index:
                    hint = did_you_mean(close_matches(dep, sorted(first_index)))
                    problems.append((line_for(lines, loc), f"{format_loc(loc)}: unknown service {dep!r}{hint}"))
    return problems


def load_catalog(path: Path, *, required: bool) -> Catalog:
    """Load and validate the catalog. A missing file is an empty catalog, unless ``required``."""
    path = Path(path)
    if not path.exists():
        if required:
            raise CatalogError([f"{path}: file not found"])
        return Catalog.empty()
    catalog, problems = parse_catalog(path)
    if problems:
        raise CatalogError([f"{where(path, line)}: {message}" for line, message in problems])
    return catalog


def routing_key_values(catalog: Catalog, environ: Mapping[str, str]) -> list[str]:
    """The PagerDuty routing keys the catalog names by variable, as set in ``environ``: secrets the
    logs redact like the secret settings."""
    variables = {service.pagerduty.routing_key_env for service in catalog.services.values() if service.pagerduty is not None}
    return [value for variable in sorted(variables) if (value := environ.get(variable, "").strip())]


def require_known_service(catalog: Catalog, name: str | None, *, spelled: str = "`service:{}`") -> None:
    """Refuse a service the catalog does not know, suggesting close matches written as
    ``spelled`` (the command's ``service:`` token; the deploy webhook's JSON field). An empty
    catalog (no file) accepts any well-formed name."""
    if name is None or catalog.is_empty or name in catalog:
        return
    from bot.core.command_text import CommandTextError

    matches = catalog.close_matches(name)
    hint = f" Did you mean {', '.join(spelled.format(m) for m in matches)}?" if matches else ""
    raise CommandTextError(f"`{name}` is not a service in the catalog.{hint} Known services: {', '.join(catalog.names())}.")
