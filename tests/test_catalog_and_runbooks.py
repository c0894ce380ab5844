"""The service catalog (bot/catalog/services.py), runbooks (bot/catalog/runbooks.py) and `incident-bot runbooks check`."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from bot.catalog.runbooks import (
    REQUIRED_SECTIONS,
    Problem,
    Runbook,
    RunbookError,
    check,
    check_report,
    find_runbook,
    load_runbooks,
    match_runbooks,
)
from bot.catalog.services import Catalog, CatalogError, Service, load_catalog
from tests.command_line import CLI, run_installed
from tests.conftest import BOT_TOKEN

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "runbooks"

GOOD_CATALOG = """\
services:
  - name: payments-api
    team: payments
    owners: [U012ABCDEF, priya@example.com]
    oncall_group: S0123ABCD
    escalation: priya@example.com
    dashboard: https://grafana.example.com/d/payments
    runbook: payments-api-errors
    upstream: [auth, postgres-main]
    downstream: [checkout-web]
    digest_channel: C0123456789
  - name: checkout-web
    team: storefront
    oncall_group: "@storefront-oncall"
    upstream: [payments-api]
  - name: auth
    team: identity
    downstream: [payments-api]
    runbook: https://wiki.example.com/auth
  - name: postgres-main
    team: platform
    downstream: [auth]
"""

BODY = """\
# Title

## What this means
Customers cannot pay.

## First diagnostic steps
1. Open the dashboard.

## Common causes and remediation
- A bad deploy: roll it back.

## Validating recovery
Error rate under 0.5% for 15 minutes.
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def runbook_text(front: str, body: str = BODY) -> str:
    return "---\n" + textwrap.dedent(front).strip("\n") + "\n---\n" + body


def catalog_problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path / "catalog.yml", text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, required=True)
    assert str(caught.value) == "\n".join(caught.value.problems)
    prefix = f"{path}:"
    assert all(problem.startswith(prefix) for problem in caught.value.problems)
    return [problem.removeprefix(prefix) for problem in caught.value.problems]


# --------------------------------------------------------------------------- the catalog


def test_good_catalog_loads_with_helpers(tmp_path):
    catalog = load_catalog(write(tmp_path / "catalog.yml", GOOD_CATALOG), required=True)
    assert catalog.path == tmp_path / "catalog.yml"
    assert not catalog.is_empty
    assert catalog.names() == ["auth", "checkout-web", "payments-api", "postgres-main"]
    payments = catalog.get("payments-api")
    assert isinstance(payments, Service)
    assert payments.team == "payments"
    assert payments.owner_user_ids == ["U012ABCDEF"]
    assert payments.owner_emails == ["priya@example.com"]
    assert payments.oncall_group_id == "S0123ABCD"
    assert payments.oncall_group_handle is None
    assert payments.dashboard == "https://grafana.example.com/d/payments"
    assert payments.digest_channel == "C0123456789"
    checkout = catalog.get("checkout-web")
    assert checkout.oncall_group_id is None
    assert checkout.oncall_group_handle == "storefront-oncall"
    assert checkout.owners == [] and checkout.dashboard is None and checkout.runbook is None
    assert catalog.get(" Payments-API ") is payments  # what people type is normalized
    assert catalog.get("nope") is None and catalog.get(None) is None
    assert catalog.get("auth").runbook_url == "https://wiki.example.com/auth"
    assert payments.runbook_name == "payments-api-errors"


def test_upstream_of_is_direct_known_dependencies_from_both_sides(tmp_path):
    catalog = load_catalog(write(tmp_path / "catalog.yml", GOOD_CATALOG), required=True)
    assert catalog.upstream_of("payments-api") == ["auth", "postgres-main"]
    # checkout-web lists payments-api; auth lists payments-api under downstream (already there).
    assert catalog.upstream_of("checkout-web") == ["payments-api"]
    # postgres-main says auth is downstream of it: so postgres-main is upstream of auth.
    assert catalog.upstream_of("auth") == ["postgres-main"]
    assert catalog.upstream_of("postgres-main") == []
    assert catalog.upstream_of("unknown") == []


def test_close_matches(tmp_path):
    catalog = load_catalog(write(tmp_path / "catalog.yml", GOOD_CATALOG), required=True)
    assert catalog.close_matches("paymnts-api") == ["payments-api"]
    assert catalog.close_matches("payments")[0] == "payments-api"
    assert catalog.close_matches("postgres")[0] == "postgres-main"
    assert catalog.close_matches("checkout", n=1) == ["checkout-web"]
    assert catalog.close_matches("zzz") == []
    assert len(catalog.close_matches("a", n=2)) <= 2


def test_missing_catalog_is_empty_unless_required(tmp_path):
    missing = tmp_path / "nope.yml"
    catalog = load_catalog(missing, required=False)
    assert catalog.is_empty and catalog.names() == [] and catalog.path is None
    assert Catalog.empty().is_empty
    with pytest.raises(CatalogError) as caught:
        load_catalog(missing, required=True)
    assert caught.value.problems == [f"{missing}: file not found"]


def test_empty_catalog_file_is_an_empty_catalog(tmp_path):
    assert load_catalog(write(tmp_path / "catalog.yml", "# nothing yet\n"), required=True).is_empty
    assert load_catalog(write(tmp_path / "catalog.yml", "services: []\n"), required=True).is_empty


def test_each_field_mistake_is_one_message_with_its_line(tmp_path):
    problems = catalog_problems(
        tmp_path,
        """\
        services:
          - name: payments-api
            team: payments
            owners: [U012ABCDEF, "not an owner"]
            oncall_group: payments oncall
            escalation: "#payments"
          - name: checkout-web
            team: storefront
            dashboard: grafana/checkout
            runbook: checkout.md
            digest_channel: "#storefront"
          - name: search
            team: storefront
            dashboard: ftp://grafana.example.com/search
            dashbord: https://grafana.example.com/search
            owners:
              - U0SEARCH1
              - nobody
          - name: Search_Engine
            team: ""
          - team: platform
          - just-a-name
          - name: auth
            team: identity
            upstream: auth
            runbook: http://wiki.example.com/auth
        """,
    )
    assert problems == [
        "4: services[0].owners[1]: 'not an owner' is neither a Slack user ID (U012ABCDEF) nor an email address",
        "5: services[0].oncall_group: 'payments oncall' is neither a Slack user group ID (S0123ABCD) nor a handle (@payments-oncall)",
        "6: services[0].escalation: '#payments' is neither a Slack user ID (U012ABCDEF) nor an email address",
        "9: services[1].dashboard: not a URL (https://…)",
        "10: services[1].runbook: give the runbook's name without .md ('checkout')",
        "11: services[1].digest_channel: '#storefront' is not a channel ID (C0123456789); use the ID, not the #name",
        "14: services[2].dashboard: not a URL (https://…)",
        "15: services[2].dashbord: unknown field (did you mean dashboard?)",
        "18: services[2].owners[1]: 'nobody' is neither a Slack user ID (U012ABCDEF) nor an email address",
        "19: services[3].name: 'Search_Engine' is not a service name (use 'search_engine'): lowercase letters, "
        "digits, '.', '_' or '-', up to 80 characters",
        "20: services[3].team: must not be empty",
        "21: services[4].name: required",
        "22: services[5]: should be a mapping of fields",
        "25: services[6].upstream: should be a list, e.g. [a, b]",
        "26: services[6].runbook: 'http://wiki.example.com/auth' is not an https URL (https://wiki.example.com/…)",
    ]


def test_cross_checks_duplicates_unknown_and_self_dependencies(tmp_path):
    problems = catalog_problems(
        tmp_path,
        """\
        services:
          - name: payments-api
            team: payments
            upstream: [postgres, auth]
          - name: auth
            team: identity
            downstream:
              - payments-api
              - auth
              - checkout
          - name: payments-api
            team: payments-two
        """,
    )
    assert problems == [
        "4: services[0].upstream[0]: unknown service 'postgres'",
        "9: services[1].downstream[1]: 'auth' cannot depend on itself",
        "10: services[1].downstream[2]: unknown service 'checkout'",
        "11: services[2].name: duplicate service 'payments-api' (also services[0], line 2)",
    ]


def test_unknown_dependency_suggests_a_close_name(tmp_path):
    problems = catalog_problems(
        tmp_path,
        """\
        services:
          - {name: postgres-main, team: platform}
          - {name: auth, team: identity, upstream: [postgres-mian]}
        """,
    )
    assert problems == ["3: services[1].upstream[0]: unknown service 'postgres-mian' (did you mean postgres-main?)"]


def test_a_service_with_mistakes_still_counts_for_the_cross_checks(tmp_path):
    # auth's own mistake must not make every reference to auth a second, misleading problem.
    problems = catalog_problems(
        tmp_path,
        """\
        services:
          - name: auth
            team: identity
            dashboard: not-a-url
          - name: payments-api
            team: payments
            upstream: [auth]
        """,
    )
    assert problems == ["4: services[0].dashboard: not a URL (https://…)"]


def test_top_level_mistakes(tmp_path):
    assert catalog_problems(tmp_path, "- name: auth\n") == ["1: expected a mapping with a `services:` list at the top level"]
    assert catalog_problems(tmp_path, "services:\n  name: auth\nservice: []\n") == [
        "1: services: should be a list of services (- name: …)",
        "3: service: unknown field (the file holds `services:`, a list)",
    ]


def test_invalid_yaml_names_the_line(tmp_path):
    problems = catalog_problems(
        tmp_path,
        """\
        services:
          - name: auth
            team: identity
            owners: [U012ABCDEF
          - name: search
        """,
    )
    assert len(problems) == 1
    line, message = problems[0].split(": ", 1)
    assert line in ("4", "5") and message.startswith("not valid YAML (")


def test_a_key_written_twice_is_a_problem(tmp_path):
    problems = catalog_problems(
        tmp_path,
        """\
        services:
          - name: auth
            team: identity
            team: platform
        """,
    )
    assert problems == ["4: services[0].team: written twice; keep one"]


def test_runbook_name_without_a_file_is_not_fatal_at_load(tmp_path):
    catalog = load_catalog(write(tmp_path / "catalog.yml", GOOD_CATALOG), required=True)
    assert catalog.get("payments-api").runbook == "payments-api-errors"  # no such file in tmp_path


# --------------------------------------------------------------------------- runbooks


def test_a_good_runbook_parses(tmp_path):
    write(
        tmp_path / "payments-api-errors.md",
        runbook_text("""
        title: Payments API is returning errors
        services: [payments-api]
        alerts:
          - PaymentsHighErrorRate
          - "Payments*"
        severity: p2
        checklist:
          - Open the dashboard
          - Check for a deploy
        """),
    )
    write(tmp_path / "README.md", "# not a runbook\n")
    write(tmp_path / "catalog.yml", GOOD_CATALOG)
    [runbook] = load_runbooks(tmp_path)
    assert runbook.name == "payments-api-errors"
    assert runbook.path == tmp_path / "payments-api-errors.md"
    assert runbook.title == "Payments API is returning errors"
    assert runbook.services == ("payments-api",)
    assert runbook.alerts == ("PaymentsHighErrorRate", "Payments*")
    assert runbook.severity == "P2"
    assert runbook.checklist == ("Open the dashboard", "Check for a deploy")
    assert runbook.url is None
    assert runbook.body.startswith("# Title")
    assert set(runbook.sections) == set(REQUIRED_SECTIONS)
    assert runbook.sections["what this means"] == "Customers cannot pay."
    assert runbook.missing_sections() == []


def test_sections_are_matched_case_insensitively_and_code_blocks_are_not_headings(tmp_path):
    body = textwrap.dedent("""\
        ## WHAT THIS MEANS:
        Impact.
        ## first Diagnostic  steps
        ```sh
        ## not a heading, a shell comment
        ```
        ## Common causes and remediation ##
        Causes.
        ## Validating Recovery
        Healthy.
        ## Notes
        """)
    write(tmp_path / "x.md", runbook_text("title: X\nservices: auth\nchecklist: [one]", body))
    [runbook] = load_runbooks(tmp_path)
    assert runbook.services == ("auth",)  # a single name is the list of one
    assert runbook.missing_sections() == []
    assert "## not a heading" in runbook.sections["first diagnostic steps"]
    assert runbook.sections["notes"] == ""


def test_broken_front_matter(tmp_path):
    write(tmp_path / "a-none.md", "# Just markdown\n")
    write(tmp_path / "b-unclosed.md", "---\ntitle: X\n\n## What this means\n")
    write(tmp_path / "c-yaml.md", "---\ntitle: X\nservices: [auth\n---\nbody\n")
    write(tmp_path / "d-list.md", "---\n- title\n---\nbody\n")
    with pytest.raises(RunbookError) as caught:
        load_runbooks(tmp_path)
    problems = caught.value.problems
    assert str(caught.value) == "\n".join(problems)
    assert problems[0] == (
        f"{tmp_path / 'a-none.md'}:1: front matter: missing: start the file with a line `---`, then title: …, then another `---`"
    )
    assert problems[1] == f"{tmp_path / 'b-unclosed.md'}:1: front matter: no closing `---` line after the front matter"
    assert problems[2].startswith(f"{tmp_path / 'c-yaml.md'}:4: front matter: not valid YAML (")
    assert problems[3] == f"{tmp_path / 'd-list.md'}:2: front matter: expected fields (title: …), one a line"
    assert len(problems) == 4


def test_missing_and_malformed_fields_one_problem_each(tmp_path):
    path = write(
        tmp_path / "x.md",
        runbook_text("""
        services: [Payments API]
        alerts: ["", PaymentsDown]
        severity: P9
        checklist: []
        colour: red
        url: http://wiki.example.com/x
        """),
    )
    write(tmp_path / "y.md", runbook_text("title: Y\nchecklist:\n  - ok\n  - " + "x" * 151 + "\n"))
    write(tmp_path / "z.md", runbook_text("title: Z\nchecklist: [" + ", ".join(f"step {i}" for i in range(21)) + "]\n"))
    with pytest.raises(RunbookError) as caught:
        load_runbooks(tmp_path)
    assert caught.value.problems == [
        f"{path}:1: title: required",
        f"{path}:2: services[0]: 'payments api' is not a service name: lowercase letters, digits, '.', '_' or '-', up to 80 characters",
        f"{path}:3: alerts[0]: must not be empty",
        f"{path}:4: severity: 'P9' is not a severity; use P1, P2, P3 or P4",
        f"{path}:5: checklist: give at least one first step, or leave the field out",
        f"{path}:6: colour: unknown field (known fields: title, services, alerts, severity, checklist, url, actions)",
        f"{path}:7: url: 'http://wiki.example.com/x' is not an https URL (https://wiki.example.com/…)",
        f"{tmp_path / 'y.md'}:5: checklist[1]: 151 characters; keep each step to 150 (it becomes a Slack checkbox)",
        f"{tmp_path / 'z.md'}:3: checklist: 21 steps; keep it to 20 first steps and put the rest in the body",
    ]


def test_missing_sections_load_but_check_reports_them(tmp_path):
    write(tmp_path / "catalog.yml", GOOD_CATALOG)
    body = "## What this means\nImpact.\n\n## First diagnostic steps\n\n## Something else\ntext\n"
    write(tmp_path / "payments-api-errors.md", runbook_text("title: X\nservices: [payments-api]\nchecklist: [a]", body))
    [runbook] = load_runbooks(tmp_path)
    assert runbook.missing_sections() == [
        "first diagnostic steps",
        "common causes and remediation",
        "validating recovery",
    ]
    where = f"{tmp_path / 'payments-api-errors.md'}:6"  # the body's first line
    errors = [problem for problem in check(tmp_path, tmp_path / "catalog.yml") if problem.level == "error"]
    assert errors == [
        Problem("error", where, "body: section '## First diagnostic steps' is empty; say the first things to look at, in order"),
        Problem("error", where, "body: missing section '## Common causes and remediation' (the usual causes and how to fix each)"),
        Problem("error", where, "body: missing section '## Validating recovery' (how to confirm the service is healthy again)"),
    ]


def test_external_url_runbook_needs_no_sections(tmp_path):
    write(tmp_path / "catalog.yml", GOOD_CATALOG)
    write(
        tmp_path / "payments-api-errors.md",
        runbook_text(
            "title: Payments errors\nservices: [payments-api]\nurl: https://wiki.example.com/payments/errors\n",
            "See the wiki.\n",
        ),
    )
    [runbook] = load_runbooks(tmp_path)
    assert runbook.url == "https://wiki.example.com/payments/errors"
    assert runbook.checklist == ()
    assert runbook.missing_sections() == []
    problems = check(tmp_path, tmp_path / "catalog.yml")
    assert [p for p in problems if p.level == "error"] == []
    assert all("payments-api-errors.md" not in p.where for p in problems)  # no checklist warning either


def test_no_runbooks_folder_is_empty_list(tmp_path):
    assert load_runbooks(tmp_path) == []


# --------------------------------------------------------------------------- matching


def rb(name: str, services: tuple[str, ...] = (), alerts: tuple[str, ...] = ()) -> Runbook:
    return Runbook(
        name=name,
        path=Path(f"{name}.md"),
        title=name,
        services=services,
        alerts=alerts,
        severity=None,
        checklist=(),
        url=None,
        body="",
        sections={},
    )


def test_matching_order_most_specific_first():
    runbooks = [
        rb("z-service-only", services=("payments-api",)),
        rb("y-pattern", alerts=("payments*",)),
        rb("x-pattern-and-service", services=("payments-api",), alerts=("Payments*",)),
        rb("w-exact", alerts=("PaymentsHighErrorRate",)),
        rb("v-exact-and-service", services=("payments-api",), alerts=("paymentshigherrorrate",)),
        rb("u-other", services=("auth",), alerts=("AuthDown", "Auth*")),
        rb("t-exact-other-service", services=("auth",), alerts=("PaymentsHighErrorRate",)),
    ]
    names = [r.name for r in match_runbooks(runbooks, service="payments-api", alert="PaymentsHighErrorRate")]
    assert names == [
        "v-exact-and-service",
        "t-exact-other-service",
        "w-exact",
        "x-pattern-and-service",
        "y-pattern",
        "z-service-only",
    ]


def test_matching_without_alert_or_service():
    runbooks = [
        rb("b", services=("payments-api",)),
        rb("a", services=("payments-api", "checkout-web")),
        rb("c", alerts=("Payments*",)),
    ]
    assert [r.name for r in match_runbooks(runbooks, service="Payments-API")] == ["a", "b"]
    assert [r.name for r in match_runbooks(runbooks, service=None, alert="PAYMENTSLatency")] == ["c"]
    assert match_runbooks(runbooks, service=None, alert=None) == []
    assert match_runbooks(runbooks, service="search", alert="SearchDown") == []


def test_exact_beats_pattern_in_the_same_runbook_and_patterns_use_shell_wildcards():
    runbooks = [
        rb("both", alerts=("Pg*", "PgReplicationLag")),
        rb("question", alerts=("Pg?eplicationLag",)),
        rb("range", alerts=("Pg[RS]*",)),
    ]
    assert [r.name for r in match_runbooks(runbooks, service=None, alert="pgreplicationlag")] == [
        "both",
        "question",
        "range",
    ]
    assert [r.name for r in match_runbooks(runbooks, service=None, alert="PgTxWraparound")] == ["both"]


def test_find_runbook_by_name_case_insensitively():
    runbooks = [rb("payments-api-errors"), rb("checkout-web-latency")]
    assert find_runbook(runbooks, "Payments-API-Errors").name == "payments-api-errors"
    assert find_runbook(runbooks, "checkout-web-latency.md").name == "checkout-web-latency"
    assert find_runbook(runbooks, "nope") is None


# --------------------------------------------------------------------------- check


def test_shipped_examples_pass_check_with_no_errors():
    problems = check(SHIPPED, SHIPPED / "catalog.yml")
    assert [p for p in problems if p.level == "error"] == []
    report = check_report(SHIPPED, SHIPPED / "catalog.yml")
    assert report.runbooks >= 3 and 5 <= report.services <= 7
    catalog = load_catalog(SHIPPED / "catalog.yml", required=True)
    runbooks = load_runbooks(SHIPPED)
    assert {r.name for r in runbooks} >= {"payments-api-errors", "postgres-main-replication-lag", "checkout-web-latency"}
    for runbook in runbooks:
        assert all(len(step) <= 75 for step in runbook.checklist), runbook.name  # one line in Slack
        assert set(runbook.services) <= set(catalog.names())
    first = match_runbooks(runbooks, service="payments-api", alert="PaymentsHighErrorRate")[0]
    assert first.name == "payments-api-errors"
    assert match_runbooks(runbooks, service=None, alert="PaymentsPspTimeouts")[0].name == "payments-api-errors"


def test_check_cross_checks_runbooks_and_catalog(tmp_path):
    write(tmp_path / "catalog.yml", GOOD_CATALOG.replace("runbook: payments-api-errors", "runbook: payments-api-eror"))
    write(
        tmp_path / "payments-api-errors.md",
        runbook_text("""
        title: Payments errors
        services:
          - paymnts
          - payments-api
        checklist: [a]
        """),
    )
    write(tmp_path / "orphan.md", runbook_text("title: Nobody's\nchecklist: [a]"))
    write(tmp_path / "README.md", "not a runbook")
    catalog = tmp_path / "catalog.yml"
    report = check_report(tmp_path, catalog)
    assert [str(p) for p in report.problems] == [
        f"error: {catalog}:8: services[0].runbook: no runbook payments-api-eror.md in {tmp_path} (did you mean payments-api-errors?)",
        f"warning: {catalog}:12: services[1]: no runbook for 'checkout-web' (list it under a runbook's services, or set its runbook)",
        f"warning: {catalog}:20: services[3]: no runbook for 'postgres-main' (list it under a runbook's services, or set its runbook)",
        f"warning: {tmp_path / 'orphan.md'}:1: front matter: no services and no alerts, so no incident will suggest it",
        f"error: {tmp_path / 'payments-api-errors.md'}:4: services: unknown service 'paymnts' (did you mean payments-api?)",
    ]
    assert report.summary() == "2 errors, 3 warnings in 2 runbooks and 4 services"


def test_check_reports_catalog_problems_and_broken_runbooks_together(tmp_path):
    write(
        tmp_path / "catalog.yml",
        """\
        services:
          - name: auth
            team: identity
            dashboard: nope
        """,
    )
    write(tmp_path / "auth-down.md", "---\ntitle: Auth down\nservices: [auth, serch]\nseverity: P7\n---\n")
    problems = check(tmp_path, tmp_path / "catalog.yml")
    assert [(p.level, p.where.removeprefix(str(tmp_path) + "/"), p.message) for p in problems] == [
        ("error", "catalog.yml:4", "services[0].dashboard: not a URL (https://…)"),
        ("error", "auth-down.md:3", "services: unknown service 'serch'"),
        ("error", "auth-down.md:4", "severity: 'P7' is not a severity; use P1, P2, P3 or P4"),
    ]


def test_check_without_a_catalog(tmp_path):
    write(tmp_path / "x.md", runbook_text("title: X\nservices: [anything]\nchecklist: [a]"))
    problems = check(tmp_path, tmp_path / "catalog.yml")
    assert problems == [Problem("warning", str(tmp_path / "catalog.yml"), "file not found; service names are not checked")]
    problems = check(tmp_path, tmp_path / "catalog.yml", catalog_required=True)
    assert [p.level for p in problems] == ["error"]
    assert check(tmp_path / "nope", tmp_path / "catalog.yml") == [
        Problem("error", str(tmp_path / "nope"), "no such folder (run from the repository root, or pass --dir)")
    ]
    assert check(tmp_path / "x.md", tmp_path / "catalog.yml") == [
        Problem("error", str(tmp_path / "x.md"), "is a file, not a folder of runbooks (run from the repository root, or pass --dir)")
    ]


# --------------------------------------------------------------------------- the command line


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`incident-bot runbooks check` as the installed console script, a process: its one smoke; the
    other runs are in this process (`check_command`)."""
    return run_installed(cwd, "runbooks", "check", *args)


@pytest.fixture
def check_command(incident):
    """``check_command(cwd, *args)``: `incident-bot runbooks check` in this process, as the script runs it."""
    return lambda cwd, *args, **settings: incident(cwd, "runbooks", "check", *args, **settings)


@pytest.fixture(scope="module")
def cli():
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: install the project with `pip install -e '.[test]'`")
    return CLI


@pytest.mark.slow
def test_cli_passes_on_the_shipped_runbooks_from_another_directory(cli, check_command, tmp_path):
    shutil.copytree(SHIPPED, tmp_path / "runbooks")
    # Slack settings would be needed by every other command; a .env with a wrong one proves it is not read.
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=wrong\n")
    result = run_cli(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("0 errors, ")
    assert result.stdout.splitlines()[-1].endswith(" in 4 runbooks and 6 services")
    # The same, pointing at the repository's folder from elsewhere.
    result = check_command(tmp_path / "runbooks", "--dir", str(SHIPPED))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("given_by", ["environment", ".env"])
def test_cli_checks_the_folder_and_catalog_serve_would_load(check_command, tmp_path, given_by):
    """RUNBOOKS_DIR and SERVICE_CATALOG, as serve reads them, unless --dir or --catalog name others."""
    write(tmp_path / "team" / "x.md", runbook_text("title: X\nservices: [payments-api]\nchecklist: [a]"))
    write(tmp_path / "team" / "services.yml", GOOD_CATALOG)
    write(tmp_path / "runbooks" / "y.md", runbook_text("title: Y\nservices: [nowhere]\nchecklist: [a]"))
    settings = {"RUNBOOKS_DIR": "team", "SERVICE_CATALOG": "team/services.yml"}
    if given_by == ".env":
        (tmp_path / ".env").write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
        settings = {}
    result = check_command(tmp_path, **settings)
    # Read: team/x.md and the four services of team/services.yml (whose runbooks are not all there).
    assert result.stdout.splitlines()[-1].endswith(" in 1 runbook and 4 services"), result.stdout + result.stderr
    assert "team/services.yml:" in result.stdout and "runbooks/" not in result.stdout, result.stdout
    result = check_command(tmp_path, "--dir", "runbooks", "--catalog", "team/services.yml", **settings)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "runbooks/y.md" in result.stdout and "nowhere" in result.stdout


def test_cli_fails_on_errors_with_one_line_each(check_command, tmp_path):
    folder = tmp_path / "runbooks"
    write(folder / "catalog.yml", GOOD_CATALOG)
    write(folder / "x.md", runbook_text("title: X\nservices: [payments-api, paymnts]\nchecklist: [a]"))
    write(folder / "y.md", runbook_text("title: Y\nservices: [postgres-main]\nchecklist: [a]", "## What this means\nx\n"))
    result = check_command(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "error: runbooks/catalog.yml:8: services[0].runbook: no runbook payments-api-errors.md in runbooks",
        "warning: runbooks/catalog.yml:12: services[1]: no runbook for 'checkout-web' (list it under a runbook's "
        "services, or set its runbook)",
        "error: runbooks/x.md:3: services: unknown service 'paymnts' (did you mean payments-api?)",
        "error: runbooks/y.md:6: body: missing section '## First diagnostic steps' (the first things to look at, in order)",
        "error: runbooks/y.md:6: body: missing section '## Common causes and remediation' (the usual causes and how to fix each)",
        "error: runbooks/y.md:6: body: missing section '## Validating recovery' (how to confirm the service is healthy again)",
        "5 errors, 1 warning in 2 runbooks and 4 services",
    ]


def test_cli_warnings_alone_exit_zero_and_catalog_option(check_command, tmp_path):
    write(tmp_path / "ops" / "services.yml", GOOD_CATALOG.replace("runbook: payments-api-errors", ""))
    write(tmp_path / "docs" / "pay.md", runbook_text("title: Pay\nservices: [payments-api]\nchecklist: [a]"))
    result = check_command(tmp_path, "--dir", "docs", "--catalog", "ops/services.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "0 errors, 2 warnings in 1 runbook and 4 services"
    assert all(line.startswith("warning: ops/services.yml:") for line in lines[:-1])
    # A catalog named explicitly must exist.
    result = check_command(tmp_path, "--dir", "docs", "--catalog", "ops/nope.yml")
    assert result.returncode == 1
    assert "error: ops/nope.yml: file not found; service names are not checked" in result.stdout


def test_cli_missing_folder_is_an_error(check_command, tmp_path):
    result = check_command(tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: runbooks: no such folder (run from the repository root, or pass --dir)",
        "1 error, 0 warnings in 0 runbooks and 0 services",
    ]


def test_a_private_escalation_contact_is_a_user_id_or_an_email(tmp_path):
    problems = catalog_problems(
        tmp_path,
        """\
        services:
          - name: payroll
            team: people
            private_escalation: "@security-lead"
          - name: vault
            team: security
            private_escalation: security-lead@example.com
        """,
    )
    assert problems == [
        "4: services[0].private_escalation: '@security-lead' is neither a Slack user ID (U012ABCDEF) nor an email address",
    ]


WORKSPACE_CATALOG = """\
services:
  - name: payments-api
    team: payments
    owners: [U0ALICE001, U0NOBODY01, alice@example.com, nobody@example.com]
    oncall_group: "@payments-oncall"
    escalation: U0NOBODY01
    escalation_group: S0NOGROUP1
"""


async def test_with_a_bot_token_the_check_warns_of_people_and_groups_the_workspace_does_not_know(incident, fake_slack, tmp_path):
    fake_slack.add_user("U0ALICE001", "alice1", email="alice@example.com")
    fake_slack.add_usergroup("S0PAYONCALL", "payments-oncall", ["U_ALICE"])
    write(tmp_path / "runbooks" / "catalog.yml", WORKSPACE_CATALOG)
    write(tmp_path / "runbooks" / "pay.md", runbook_text("title: Pay\nservices: [payments-api]\nchecklist: [a]"))
    settings = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": fake_slack.base_url}

    result = await incident.in_thread(tmp_path, "runbooks", "check", **settings)
    assert result.returncode == 0, result  # warnings: the files themselves are right
    assert result.stdout.splitlines() == [
        "warning: runbooks/catalog.yml:4: payments-api.owners: no user U0NOBODY01 in this workspace (users.info: user_not_found)",
        "warning: runbooks/catalog.yml:4: payments-api.owners: no e-mail nobody@example.com in this workspace "
        "(users.lookupByEmail: users_not_found)",
        "warning: runbooks/catalog.yml:6: payments-api.escalation: no user U0NOBODY01 in this workspace (users.info: user_not_found)",
        "warning: runbooks/catalog.yml:7: payments-api.escalation_group: no user group S0NOGROUP1 in this workspace",
        "0 errors, 4 warnings in 1 runbook and 1 service",
    ]

    fake_slack.bot_tokens = set()  # a token Slack refuses: one warning says the people were not checked
    result = await incident.in_thread(tmp_path, "runbooks", "check", **settings)
    assert result.returncode == 0, result
    assert result.stdout.splitlines()[0].startswith("warning: runbooks/catalog.yml: people and groups not checked against the workspace:")

    # Without a token (the default in a team's CI), only the files are checked, and Slack is not asked.
    asked = len(fake_slack.calls)
    result = await incident.in_thread(tmp_path, "runbooks", "check", SLACK_API_URL=fake_slack.base_url)
    assert result.stdout.splitlines() == ["0 errors, 0 warnings in 1 runbook and 1 service"]
    assert len(fake_slack.calls) == asked
