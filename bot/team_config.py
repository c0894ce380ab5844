"""The team's YAML config file (``runbooks/config.yml`` by default): tier tables and other team rules.

Validated with pydantic when the bot starts; every problem names the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bot.tiers import DEFAULT_DORA_YEAR, DORA_BANDS, SEVERITY_TARGETS, TierTable, TierTables, table

DEFAULT_PATH = Path("runbooks/config.yml")


class TeamConfigError(Exception):
    """The config file is wrong; the message names the file, the field and the right form."""


def _bands(label: str, spec: dict[str, str | None]) -> TierTable:
    if not isinstance(spec, dict) or not spec:
        raise ValueError("give the bands in order as name: bound, e.g. {elite: 30m, high: 2h, medium: 6h, low: null}")
    return table(label, [(str(name), None if bound is None else str(bound)) for name, bound in spec.items()])


class _Dora(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bands: dict[int, dict[str, str | None]] = {}


class _TeamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dora: _Dora = _Dora()
    severity_targets: dict[str, dict[str, str | None]] = {}

    @field_validator("severity_targets")
    @classmethod
    def _known_severities(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - set(SEVERITY_TARGETS)
        if unknown:
            raise ValueError(f"unknown severity {sorted(unknown)}; use P1, P2, P3 or P4")
        return value


def load_tier_tables(path: Path | None, *, dora_year: int = DEFAULT_DORA_YEAR, required: bool = False) -> TierTables:
    """Built-in tables, overridden by the file's. A missing default file is fine; a missing
    file that was named explicitly is an error."""
    raw: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise TeamConfigError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
        if not isinstance(raw, dict):
            raise TeamConfigError(f"{path}: expected a mapping of settings at the top level")
    elif required and path is not None:
        raise TeamConfigError(f"{path}: file not found (INCIDENT_CONFIG names it)")
    try:
        config = _TeamConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise TeamConfigError(f"{path}: {field}: {first['msg'].removeprefix('Value error, ')}") from None

    dora_tables = dict(DORA_BANDS)
    severity = dict(SEVERITY_TARGETS)
    try:
        for year, spec in config.dora.bands.items():
            dora_tables[year] = _bands(f"DORA {year} report", spec)
        for level, spec in config.severity_targets.items():
            severity[level] = _bands(f"{level} target", spec)
    except ValueError as error:
        raise TeamConfigError(f"{path}: {error}") from None
    if dora_year not in dora_tables:
        raise TeamConfigError(
            f"DORA_REPORT_YEAR={dora_year} has no band table; known years: {sorted(dora_tables)} "
            f"(add one under dora.bands in {path})"
        )
    return TierTables(dora=dora_tables[dora_year], dora_year=dora_year, severity=severity)
