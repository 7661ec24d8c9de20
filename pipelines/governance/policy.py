"""Role-based access policies: which datasets, columns and catalog tables each role may read.

A policy is a YAML file (by default `catalog/access_policy.yaml` in the project)::

    roles:
      model-team:
        description: Model teams; personal columns are hidden.
        grades: [general, important]             # dataset grades (GB/T 43697) the role may read
        sensitivities: [public, confidential]    # column sensitivities the role may read
        datasets: all                            # or a list of dataset names
        catalog_tables: [versions, latest_versions, score_trend]   # or `all`

It is parsed into frozen pydantic models; every problem is raised together as one `SpecError` whose
issues name file:line, as for dataset specs. `pipelines.governance.guard.GuardedClient` enforces it.

Example:
    >>> policy = load_policy(Path("catalog/access_policy.yaml"))      # doctest: +SKIP
    >>> policy.role("partner").may_read_grade("core")                 # doctest: +SKIP
    False
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from pipelines.errors import NotFoundError, SpecError, SpecIssue
from pipelines.spec.issues import validate_model
from pipelines.spec.models import NAME_PATTERN, RESERVED_NAMES, Grade, Sensitivity
from pipelines.spec.yaml_marks import Located

__all__ = [
    "CATALOG_MACROS",
    "CATALOG_TABLES",
    "DEFAULT_POLICY",
    "LINEAGE_COLUMNS",
    "Policy",
    "Role",
    "default_policy_path",
    "load_policy",
    "parse_policy_text",
    "policy_digest",
]

DEFAULT_POLICY = Path("catalog") / "access_policy.yaml"
"""Where the policy lives, relative to the project root."""

LINEAGE_COLUMNS: tuple[str, ...] = ("_qc_flag", "_warn_rules", "_source_file", "_source_row")
"""Quality and lineage columns of every published version: visible to every role."""

CATALOG_MACROS: frozenset[str] = frozenset({"dataset", "quarantine", "split", "diff_rows"})
"""The catalog's table macros: they read Parquet files by path, so no role may call them."""

CATALOG_TABLES: frozenset[str] = frozenset((RESERVED_NAMES | {"audit_log"}) - CATALOG_MACROS)
"""Catalog tables and views a role's `catalog_tables` may name."""

ROLE_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
RoleName = Annotated[str, StringConstraints(pattern=ROLE_PATTERN)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Role(_Frozen):
    """What one role may read: dataset grades, column sensitivities, datasets and catalog tables."""

    description: str = Field("", description="Who holds the role and what it is for.")
    grades: tuple[Grade, ...] = Field(
        min_length=1, description="Dataset grades the role may read: general, important, core (GB/T 43697)."
    )
    sensitivities: tuple[Sensitivity, ...] = Field(
        description="Column sensitivities the role may read: public, confidential, personal. "
        "Columns of other sensitivities are hidden; lineage and quality columns are always shown."
    )
    datasets: Literal["all"] | tuple[str, ...] = Field(
        "all", description="`all`, or the datasets the role may read (its grades apply as well)."
    )
    catalog_tables: Literal["all"] | tuple[str, ...] = Field(
        (), description="`all`, or the catalog tables and views the role may read (rows of its datasets only)."
    )

    @field_validator("datasets")
    @classmethod
    def _dataset_names(cls, value: Literal["all"] | tuple[str, ...]) -> Literal["all"] | tuple[str, ...]:
        if value == "all":
            return value
        bad = [n for n in value if not _matches(NAME_PATTERN, n)]
        if bad:
            raise ValueError(f"`{bad[0]}` is not a dataset name (lower case letters, digits and `_`)")
        return value

    @field_validator("catalog_tables")
    @classmethod
    def _table_names(cls, value: Literal["all"] | tuple[str, ...]) -> Literal["all"] | tuple[str, ...]:
        if value == "all":
            return value
        for name in value:
            if name in CATALOG_MACROS:
                raise ValueError(f"`{name}` is a table macro that reads files by path; roles read views instead")
            if name not in CATALOG_TABLES:
                close = difflib.get_close_matches(name, sorted(CATALOG_TABLES), n=1)
                hint = f"did you mean `{close[0]}`?" if close else "see catalog/README.md for the catalog's tables"
                raise ValueError(f"`{name}` is not a catalog table or view ({hint})")
        return value

    def may_read_grade(self, grade: str | None) -> bool:
        """Whether the role may read a dataset of this grade; an unknown grade (NULL) counts as `core`.

        Args:
            grade: The dataset's grade from the catalog, or None when it was never classified.

        Returns:
            True when the grade is one of the role's grades.
        """
        return (grade or "core") in self.grades

    def may_read_sensitivity(self, sensitivity: str | None) -> bool:
        """Whether the role may read a column of this sensitivity; an unknown one (NULL) counts as `personal`.

        Args:
            sensitivity: The column's sensitivity from the catalog, or None.

        Returns:
            True when the sensitivity is one of the role's sensitivities.
        """
        return (sensitivity or "personal") in self.sensitivities

    def may_read_dataset(self, name: str, grade: str | None) -> bool:
        """Whether the role may read a dataset: its grade is allowed and it is listed (or `datasets: all`).

        Args:
            name: Dataset name.
            grade: The dataset's grade, or None (counts as `core`).

        Returns:
            True when both the grade and the dataset list allow it.
        """
        listed = self.datasets == "all" or name in self.datasets
        return listed and self.may_read_grade(grade)

    def may_read_table(self, table: str) -> bool:
        """Whether the role may read a catalog table or view.

        Args:
            table: Catalog table or view name.

        Returns:
            True when `catalog_tables` is `all` or lists it.
        """
        return self.catalog_tables == "all" or table in self.catalog_tables


def _matches(pattern: str, value: str) -> bool:
    return re.match(pattern, value) is not None


class Policy(_Frozen):
    """Every role of a project, by name."""

    roles: dict[RoleName, Role] = Field(min_length=1, description="Roles by name, e.g. `cdo`, `model-team`, `partner`.")

    def role(self, name: str) -> Role:
        """The role called `name`.

        Args:
            name: Role name, as given to `moshu sql --role`.

        Returns:
            The role.

        Raises:
            NotFoundError: no such role; the message lists the roles there are.
        """
        if name in self.roles:
            return self.roles[name]
        close = difflib.get_close_matches(name, list(self.roles), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise NotFoundError(f"no role `{name}` in the access policy (roles: {', '.join(sorted(self.roles))}){hint}")


def default_policy_path(project_root: Path) -> Path:
    """The project's policy file, `catalog/access_policy.yaml`.

    Args:
        project_root: The project folder.

    Returns:
        The path (it may not exist).
    """
    return project_root / DEFAULT_POLICY


def load_policy(path: Path) -> Policy:
    """Parse and validate an access policy file.

    Args:
        path: The YAML file.

    Returns:
        The policy.

    Raises:
        SpecError: the file is missing, is not YAML, or does not match the policy's shape; every issue
            names file:line and key.
    """
    display = path.as_posix()
    if not path.is_file():
        issue = SpecIssue(
            display, None, None, "", "access policy file does not exist", "write one; see pipelines/governance/policy.py"
        )
        raise SpecError([issue])
    return _validated(Located(path, display))


def parse_policy_text(text: str, display: str) -> Policy:
    """Parse and validate a policy held in memory (the copy stored in the catalog).

    Args:
        text: The policy's YAML text.
        display: How messages name it (its file).

    Returns:
        The policy.

    Raises:
        SpecError: the text is not a valid policy; issues name `display` and the line.
    """
    return _validated(Located(Path(display), display, text))


def policy_digest(policy: Policy) -> str:
    """sha256 of a policy's canonical JSON: the hash recorded for a policy built in code, not read from a file.

    Args:
        policy: The policy.

    Returns:
        The hex digest.
    """
    return hashlib.sha256(policy.model_dump_json().encode("utf-8")).hexdigest()


def _validated(located: Located) -> Policy:
    policy, issues = validate_model(Policy, located)
    if issues:
        raise SpecError([_role_key_issue(i, located) for i in issues])
    assert isinstance(policy, Policy)
    return policy


def _role_key_issue(issue: SpecIssue, located: Located) -> SpecIssue:
    """A bad role name, reported at its key with a plain message (pydantic reports it under the role's body)."""
    parts = issue.key_path.split(".")
    if len(parts) != 3 or parts[0] != "roles" or parts[2] != "[key]":
        return issue
    line, column = located.locate(("roles", parts[1]), at_key=True)
    message = f"`{parts[1]}` is not a role name: use lower case letters, digits, `_` and `-`, starting with a letter"
    return dataclasses.replace(issue, line=line, column=column, key_path=f"roles.{parts[1]}", message=message)
