"""The access policy in force: installed into the warehouse by a cdo, with its sha256 in the catalog.

`moshu policy apply FILE` validates the file, copies it to `<warehouse>/governance/policies/<sha256>.yaml`,
appends a row to the catalog table `access_policies` (migration 0011) and an audit row
(`policy_apply`, role `cdo`, with the hash). The latest row is the policy in force; `moshu sql --role`
enforces it and records its hash in every audit row. Before any policy is installed, the policy of
the project that holds the warehouse (`<warehouse>/../catalog/access_policy.yaml`) is in force, else
the example policy of the moshu source checkout that runs (`source: built-in`): both are found from
where the warehouse and moshu are, never from `--project` or `--policy`, so a caller cannot swap them.

Example:
    >>> installed = apply_policy(Warehouse(Path("warehouse")), Path("catalog/access_policy.yaml"))  # doctest: +SKIP
    >>> policy_in_force(Warehouse(Path("warehouse"))).sha256 == installed.sha256                    # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines.errors import IntegrityError, NotFoundError
from pipelines.governance.policy import DEFAULT_POLICY, Policy, load_policy, parse_policy_text
from pipelines.warehouse import Warehouse

__all__ = ["POLICY_DIR", "PolicyInForce", "apply_policy", "file_sha256", "installed_policy", "policy_in_force"]

POLICY_DIR = Path("governance") / "policies"
"""Where applied policies are kept, relative to the warehouse, one `<sha256>.yaml` per policy."""

INSTALLED = "installed"
PROJECT = "project"
BUILT_IN = "built-in"
_MOSHU_ROOT = Path(__file__).resolve().parents[2]  # a source checkout of moshu: its catalog/access_policy.yaml


@dataclass(frozen=True)
class PolicyInForce:
    """The policy `moshu sql --role` enforces, with where it came from.

    Attributes:
        policy: The parsed policy.
        sha256: sha256 of the policy file's bytes.
        source: `installed` (applied with `moshu policy apply`), `project` (none applied yet: the
            policy file of the project that holds the warehouse) or `built-in` (neither: moshu's own).
        path: The file it was read from.
        applied_at: When it was applied (None for `project`).
        actor: Who applied it (None for `project`).
    """

    policy: Policy
    sha256: str
    source: str
    path: Path
    applied_at: datetime | None = None
    actor: str | None = None


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, hex.

    Args:
        path: The file.

    Returns:
        The 64-character hex digest.
    """
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installed_policy(warehouse: Warehouse) -> PolicyInForce | None:
    """The latest policy applied to a warehouse, checked against its hash; None when none was applied.

    Args:
        warehouse: The warehouse.

    Returns:
        The installed policy, or None (no catalog, a catalog older than migration 0011, or no row).

    Raises:
        IntegrityError: the stored copy no longer matches the hash recorded when it was applied.
    """
    from pipelines.catalog.client import CatalogClient

    if not warehouse.catalog_path.is_file():
        return None
    with CatalogClient(warehouse.root) as c:
        if not c.rows("SELECT 1 FROM duckdb_tables() WHERE table_name = 'access_policies'"):
            return None
        rows = c.rows("SELECT sha256, path, body, applied_at, actor FROM access_policies ORDER BY seq DESC LIMIT 1")
    if not rows:
        return None
    sha, rel, body, applied_at, actor = rows[0]
    path = warehouse.root / str(rel)
    data = path.read_bytes() if path.is_file() else str(body).encode("utf-8")
    if hashlib.sha256(data).hexdigest() != sha:
        raise IntegrityError(
            f"the access policy `{path}` does not match the sha256 {sha[:12]} recorded when it was applied "
            "(it was edited in place); a cdo applies the intended policy again with `moshu policy apply FILE`"
        )
    policy = parse_policy_text(data.decode("utf-8"), path.as_posix())
    return PolicyInForce(policy, sha, INSTALLED, path, applied_at, actor)


def policy_in_force(warehouse: Warehouse) -> PolicyInForce:
    """The policy role queries of a warehouse enforce: the installed one, else its project's file.

    Args:
        warehouse: The warehouse.

    Returns:
        The policy with its hash and source.

    Raises:
        NotFoundError: no policy was applied and the warehouse's project has no policy file.
        IntegrityError: the installed copy was edited after it was applied.
        SpecError: the project's policy file is not a valid policy.
    """
    installed = installed_policy(warehouse)
    if installed is not None:
        return installed
    candidates = (warehouse.root.resolve().parent / DEFAULT_POLICY, _MOSHU_ROOT / DEFAULT_POLICY)
    for path, source in zip(candidates, (PROJECT, BUILT_IN), strict=True):
        if path.is_file():
            return PolicyInForce(load_policy(path), file_sha256(path), source, path)
    raise NotFoundError(
        f"no access policy is in force for `{warehouse.root}`: none was applied and `{candidates[0]}` does not exist; "
        "a cdo installs one with `moshu policy apply FILE`"
    )


def apply_policy(warehouse: Warehouse, path: Path, actor: str | None = None) -> tuple[PolicyInForce, bool]:
    """Install a policy file into a warehouse as the policy in force, and audit it.

    Args:
        warehouse: The warehouse (its catalog is created or migrated if needed).
        path: The policy file; it is validated first.
        actor: Who applies it (default: `current_actor()`).

    Returns:
        The installed policy, and False when that very file was already in force (nothing is written).

    Raises:
        SpecError: the file is not a valid policy (nothing is written).
        CatalogError: the catalog could not be written.
    """
    from pipelines.catalog.db import writer
    from pipelines.governance.audit import current_actor, record

    policy = load_policy(path)
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    who = actor or current_actor()
    previous = installed_policy(warehouse)
    if previous is not None and previous.sha256 == sha:
        return previous, False
    rel = POLICY_DIR / f"{sha}.yaml"
    target = warehouse.root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or file_sha256(target) != sha:  # a policy applied before is kept as it was
        if target.is_file():
            target.chmod(0o644)
        target.write_bytes(data)
        target.chmod(0o444)  # a reminder: the copy is checked against its hash at every use
    now = datetime.now(UTC).replace(tzinfo=None)
    roles = sorted(policy.roles)
    with writer(warehouse) as con:
        row = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM access_policies").fetchone()
        seq = int(row[0]) if row else 1
        con.execute(
            "INSERT INTO access_policies VALUES (?, ?, ?, ?, ?, ?, ?)",
            [seq, now, who, sha, rel.as_posix(), data.decode("utf-8"), roles],
        )
        detail = {"sha256": sha, "previous_sha256": previous.sha256 if previous else None, "roles": roles, "file": path.name}
        record(con, actor=who, role="cdo", action="policy_apply", object=f"access_policy@{sha[:12]}",
               decision="applied", detail=detail)  # fmt: skip
    return PolicyInForce(policy, sha, INSTALLED, target, now, who), True
