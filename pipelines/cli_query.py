"""`moshu sql | versions | show | report`: query the catalog and read a version's record (registered by `pipelines.cli`)."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.cli_common import (
    EXIT_USAGE,
    ProjectOpt,
    WarehouseOpt,
    _client,
    _fail,
    _print_table,
    _resolved,
    _settings,
    err,
    out,
)


class Format(StrEnum):
    """Output formats of `moshu sql`."""

    table = "table"
    vertical = "vertical"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def sql(
    query: Annotated[
        str | None, typer.Argument(help='A SQL query against the catalog, e.g. "select * from ai4i2020 limit 5".')
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (csv, json; required for parquet).")
    ] = None,
    max_rows: Annotated[int, typer.Option("--max-rows", help="Rows shown by the table format.")] = 100,
    role: Annotated[
        str | None, typer.Option("--role", help="Query as this role of the access policy: only what it may read.")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="With --role: refused unless this file is the access policy in force (see `moshu policy show`).",
        ),
    ] = None,
    print_init: Annotated[
        bool,
        typer.Option(
            "--print-init",
            help="Print the SQL that opens this catalog in a stock DuckDB client from any folder "
            "(`moshu sql --print-init > init.sql; duckdb -init init.sql`), then exit.",
        ),
    ] = False,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Query the catalog read-only: any dataset version, rule results, lineage (with --role: as that role).

    Without --role this is the warehouse owner's access (everything the files allow); with --role the
    query is checked against the access policy in force and recorded in the audit log with its hash.
    """
    from pipelines.errors import MoshuError

    if print_init:
        typer.echo(init_sql(_settings(project, warehouse).warehouse.root))  # plain text: no wrapping, no markup
        return
    if query is None:
        _fail('give a query, e.g. moshu sql "select * from latest_versions" (or --print-init)', EXIT_USAGE)

    if role is None and policy is not None:
        _fail("--policy only applies with --role", EXIT_USAGE)
    if role is not None:
        rel = _guarded_query(project, warehouse, role, policy, query)
        _output(rel, fmt, output, max_rows)
        return
    client = _client(project, warehouse)
    try:
        _output(client.sql(query), fmt, output, max_rows)
    except MoshuError as e:
        _fail(str(e))
    finally:
        client.close()


def init_sql(root: Path) -> str:
    """SQL for a stock DuckDB client: attach the catalog read-only, make it the default, resolve its Parquet paths."""
    from pipelines.sql import literal

    root = root.resolve()
    return "\n".join(
        [
            f"-- moshu catalog of {root.name}: the catalog's tables, views and macros, read-only",
            f"ATTACH {literal(str(root / 'catalog.duckdb'))} AS moshu (READ_ONLY);",
            "USE moshu;",
            f"SET file_search_path = {literal(str(root))};",
        ]
    )


def _output(rel: Any, fmt: Format, output: Path | None, max_rows: int) -> None:
    """Print or write a result (a DuckDB relation, or a guarded client's materialised result)."""
    import duckdb

    try:
        if fmt is Format.parquet:
            if output is None:
                _fail("--format parquet needs --output FILE", EXIT_USAGE)
            rel.write_parquet(str(output))  # a relation streams to the file
            err.print(f"wrote {output}")
        elif fmt is Format.table:
            _print_table(rel, max_rows)
            if len(rel.columns) * 10 > (out.width or 200):
                err.print("(a wide result: `--format vertical` shows each row as a column: value list)")
        elif fmt is Format.vertical:
            _print_vertical(list(rel.columns), rel.limit(max_rows + 1).fetchall(), max_rows)
        else:
            _write_text(rel, fmt, output)
    except duckdb.Error as e:  # raised while rows are computed (a failed cast, error())
        from pipelines.catalog.missing import macro_message

        _fail(macro_message(str(e)) or str(e).splitlines()[0])


def _print_vertical(columns: list[str], rows: list[tuple[Any, ...]], max_rows: int) -> None:
    """Each row as a block of `column: value` lines, for results too wide for the terminal."""
    width = max((len(c) for c in columns), default=0)
    for i, r in enumerate(rows[:max_rows], 1):
        out.print(f"[bold]-- row {i}[/]", highlight=False)
        for c, v in zip(columns, r, strict=True):
            out.print(f"{c.rjust(width)} : {'NULL' if v is None else v}", markup=False, highlight=False)
    if len(rows) > max_rows:
        err.print(f"(only the first {max_rows} rows are shown; use --max-rows, or --format csv/json/parquet for all)")


def _guarded_query(project: Path | None, warehouse: Path | None, role: str, policy: Path | None, query: str) -> Any:
    """Run a query as a role under the policy in force; the guarded client writes the audit record before any row is shown.

    `--policy FILE` is refused unless FILE is the policy in force (same sha256): a role query is always
    checked against the policy a cdo applied (`moshu policy apply`), never against one the caller brings.
    """
    from pipelines.errors import MoshuError, NotFoundError, SpecError
    from pipelines.governance.audit import record_query
    from pipelines.governance.guard import GuardedClient
    from pipelines.governance.policy_store import file_sha256, policy_in_force

    wh = _settings(project, warehouse).warehouse

    def refuse(message: str, audit: dict[str, Any] | None) -> None:
        try:
            record_query(wh, role, query, "refused", message, audit)
        except MoshuError as audit_error:
            _fail(str(audit_error))
        _fail(message, EXIT_USAGE)

    try:
        in_force = policy_in_force(wh)
    except (SpecError, NotFoundError) as e:  # no policy, or an unreadable one: refused, and audited
        refuse(str(e), None)
    except MoshuError as e:  # a tampered policy copy, or a catalog that cannot be read
        _fail(str(e))
    audit = {"sha256": in_force.sha256, "source": in_force.source}
    if policy is not None:
        given = file_sha256(policy) if policy.is_file() else "missing"
        if given != in_force.sha256:
            refuse(
                f"--policy `{policy}` (sha256 {given[:12]}) is not the access policy in force (sha256 "
                f"{in_force.sha256[:12]}, {in_force.source}): role queries use the policy a cdo applied; "
                "drop --policy, or have a cdo run `moshu policy apply FILE`",
                {**audit, "refused_sha256": given},
            )
    try:
        client = GuardedClient(wh.root, role, in_force.policy, policy_sha256=in_force.sha256, policy_source=in_force.source)
    except NotFoundError as e:  # an unknown role: refused, and audited
        refuse(str(e), audit)
    except MoshuError as e:  # no catalog, or one that cannot be read: nothing to audit into
        _fail(str(e))
    try:
        return client.sql(query)
    except MoshuError as e:
        _fail(str(e))
    finally:
        client.close()


def _nested(type_text: str) -> bool:
    return type_text.endswith("]") or type_text.startswith(("STRUCT", "MAP", "UNION"))


def _write_file(rel: Any, fmt: Format, output: Path) -> None:
    """A DuckDB relation written by DuckDB itself, streaming (lists and structs as JSON in CSV cells)."""
    from pipelines.sql import ident, literal

    if fmt is Format.csv:
        cols = [
            f"to_json({ident(c)}) AS {ident(c)}" if _nested(str(t)) else ident(c)
            for c, t in zip(rel.columns, rel.types, strict=True)
        ]
        rel.project(", ".join(cols)).write_csv(str(output), header=True)
    else:
        rel.query("moshu_result", f"COPY moshu_result TO {literal(str(output))} (FORMAT json, ARRAY true)")


def _write_text(rel: Any, fmt: Format, output: Path | None) -> None:
    import duckdb

    if output is not None and isinstance(rel, duckdb.DuckDBPyRelation):
        _write_file(rel, fmt, output)
        return
    stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        if fmt is Format.csv:
            w = csv.writer(stream)
            w.writerow(rel.columns)
            w.writerows([_csv_cell(v) for v in r] for r in rel.fetchall())
        else:
            rows = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]
            json.dump(rows, stream, default=str, ensure_ascii=False, indent=1)
            stream.write("\n")
    finally:
        if output:
            stream.close()


def _csv_cell(v: Any) -> Any:
    """Lists and structs as JSON, so a CSV cell can be parsed back."""
    return json.dumps(v, default=str, ensure_ascii=False) if isinstance(v, list | dict) else v


def list_datasets(
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """List every dataset: its latest version with level, score and rows, and the specs not built yet."""
    from pipelines.errors import SpecError
    from pipelines.spec.loader import load_project

    rows: list[tuple[Any, ...]] = []
    settings = _settings(project, warehouse)
    if settings.warehouse.catalog_path.is_file():
        with _client(project, warehouse) as c:
            rows = c.rows(
                "SELECT d.name, d.owner, v.version, v.status, v.level, v.score, v.rows_published, "
                "v.rows_quarantined, strftime(v.created_at, '%Y-%m-%d %H:%M'), "
                "(SELECT count(*) FROM versions a WHERE a.name = d.name AND a.status = 'published') "
                "FROM datasets d LEFT JOIN latest_versions v ON v.name = d.name ORDER BY d.name"
            )
    try:  # specs in the project that have no version yet
        specs = load_project(settings.project).datasets
    except SpecError:
        specs = {}
    built = {r[0] for r in rows}
    t = Table("dataset", "owner", "latest", "status", "level", "score", "published", "quarantined",
              "created (UTC)", "versions", title=f"datasets in {settings.warehouse.root}")  # fmt: skip
    for name, owner, v, status, level, score, pub, quar, created, n in rows:
        t.add_row(
            name, owner or "-", f"v{v}" if v is not None else "-",
            "[red]rejected[/]" if status == "rejected" else str(status or "-"), str(level or "-"),
            f"{score:.3f}" if score is not None else "n/a", f"{pub:,}" if pub is not None else "-",
            f"{quar:,}" if quar is not None else "-", created or "-", str(n),
        )  # fmt: skip
    for name in sorted(set(specs) - built):
        spec = specs[name].spec
        t.add_row(name, spec.owner or "-", "-", "[yellow]not built[/]", *["-"] * 5, "0")
    if not rows and not specs:
        _fail(f"no datasets: no catalog in {settings.warehouse.root} and no specs in {settings.project}/dataset_specs")
    out.print(t)


def versions(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """List the versions of a dataset (published and rejected candidates) with their verdict."""
    with _client(project, warehouse) as c:
        if dataset not in c.datasets():
            _fail(f"no dataset `{dataset}` in the catalog (datasets: {', '.join(c.datasets()) or 'none yet'})")
        rows = c.rows(
            "SELECT version, parent_version, created_at, rows_in, rows_published, rows_quarantined, rows_warned, "
            "rules_passed, rules_failed, left(data_hash, 12), status, level, score FROM versions WHERE name = ? ORDER BY version",
            [dataset],
        )
    t = Table(
        "version",
        "status",
        "level",
        "score",
        "parent",
        "created (UTC)",
        "rows in",
        "published",
        "quarantined",
        "warned",
        "rules passed",
        "rules failed",
        "data hash",
        title=dataset,
    )
    for r in rows:
        status = "[red]rejected[/]" if r[10] == "rejected" else str(r[10])
        score = f"{r[12]:.3f}" if r[12] is not None else "n/a"
        t.add_row(
            f"v{r[0]}",
            status,
            str(r[11]),
            score,
            f"v{r[1]}" if r[1] else "-",
            str(r[2]),
            *(f"{x:,}" for x in r[3:7]),
            str(r[7]),
            str(r[8]),
            r[9],
        )
    out.print(t)


def show(
    ref: Annotated[str, typer.Argument(help="`DATASET` or `DATASET@VERSION`.")],
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Show a dataset version: description, schema, counts, rule results, source files."""

    with _client(project, warehouse) as c:
        name, v = _resolved(c, ref)
        d = c.rows(
            "SELECT title, description, owner, license, synthetic, synthetic_generator FROM datasets WHERE name = ?", [name]
        )[0]
        ver = c.rows(
            "SELECT rows_in, rows_published, rows_quarantined, rows_warned, created_at, data_hash, parent_version, ge_success, "
            "status, level, score, failed_gates "
            "FROM versions WHERE name = ? AND version = ?",
            [name, v],
        )[0]
        cols = c.rows(
            "SELECT column_name, dtype, unit, nullable, role, description FROM columns WHERE name = ? AND version = ? ORDER BY position",
            [name, v],
        )
        rules = c.rows(
            "SELECT rule_id, kind, severity, engine, evaluated, failed, passed, coalesce(samples[1], observed, ''), suspect, "
            "(SELECT string_agg(printf('%.4g = %.4g / %.4g', m.x, m.a, m.b), '; ') FROM measures m "
            "WHERE m.name = r.name AND m.version = r.version AND m.rule_id = r.rule_id) "
            "FROM rule_results r WHERE name = ? AND version = ? ORDER BY passed, failed DESC, suspect DESC, rule_id",
            [name, v],
        )
        files = c.rows(
            "SELECT path, rows, size_bytes, left(sha256, 12) FROM source_files WHERE name = ? AND version = ? ORDER BY path",
            [name, v],
        )
    assert d is not None and ver is not None
    out.print(f"[bold]{name}@{v}[/]  {d[0]}" + ("  [yellow](synthetic)[/]" if d[4] else ""))
    out.print(f"{d[1]}".strip(), highlight=False)
    out.print(
        f"owner: {d[2]}   license: {d[3] or '-'}   created: {ver[4]} UTC   parent: {('v' + str(ver[6])) if ver[6] else '-'}   data hash: {ver[5][:12]}"
    )
    out.print(f"rows in {ver[0]:,} = published {ver[1]:,} + quarantined {ver[2]:,}   (published with warnings: {ver[3]:,})")
    verdict = f"{ver[8]}, level {ver[9]}" + (f", score {ver[10]:.3f}" if ver[10] is not None else "")
    if ver[11]:
        verdict += f", failed gates: {', '.join(ver[11])}"
    out.print(("[red]" + escape(verdict) + "[/]") if ver[8] == "rejected" else escape(verdict))
    t = Table("column", "dtype", "unit", "nullable", "role", "description", title="schema")
    for r in cols:
        t.add_row(r[0], r[1], r[2] or "", "yes" if r[3] else "no", r[4] or "", r[5] or "")
    out.print(t)
    rt = Table("rule", "kind", "severity", "engine", "failed + suspect / evaluated (X = A / B)", "result", "example",
               title="rule results")  # fmt: skip
    for r in rules:
        mark = "[green]pass[/]" if r[6] else ("[red]FAIL[/]" if r[2] == "error" else "[yellow]warn[/]")
        counted = f"{r[5]:,} + {r[8] or 0:,} suspect / {r[4]:,}" if r[3] == "pandera" else (r[9] or f"{r[5]:,} / {r[4]:,}")
        rt.add_row(r[0], r[1], r[2], r[3], counted, mark, r[7])
    out.print(rt)
    ft = Table("source file", "rows", "bytes", "sha256", title="lineage")
    for f in files:
        ft.add_row(f[0], f"{f[1]:,}", f"{f[2]:,}", f[3])
    out.print(ft)


def report(
    ref: Annotated[str, typer.Argument(help="`DATASET` or `DATASET@VERSION`.")],
    open_browser: Annotated[bool, typer.Option("--open", help="Open the report in a web browser.")] = False,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Print the path of a version's HTML quality report (and its GE Data Docs); `--open` opens it."""

    with _client(project, warehouse) as c:
        name, v = _resolved(c, ref)
        row = c.rows(
            "SELECT report_path, data_docs_path, level, score, status FROM versions WHERE name = ? AND version = ?", [name, v]
        )[0]
        root = c.root
    if not row[0]:
        _fail(f"`{name}@{v}` has no quality report (it was published before reports existed); run it again after a change")
    path = root / row[0]
    out.print(
        f"{name}@{v}: {row[4]}, level {row[2]}, score {row[3]:.3f}"
        if row[3] is not None
        else f"{name}@{v}: {row[4]}, level {row[2]}"
    )
    out.print(f"report:     {path}")
    if row[1]:
        out.print(f"data docs:  {root / row[1]}")
    page = root / "datasets" / name / "models" / f"v{v}.html"
    if page.is_file():
        out.print(f"model page: {page}")
    if open_browser:
        import webbrowser

        webbrowser.open(path.as_uri())
