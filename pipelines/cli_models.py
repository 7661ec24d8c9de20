"""`moshu gaps | splits | diff | trials | feedback ... | model ...`: the model-data loop on the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pipelines.cli_common import (
    EXIT_USAGE,
    LIMIT_MORE,
    ProjectOpt,
    WarehouseOpt,
    _client,
    _fail,
    _print_rows,
    _resolved,
    _settings,
    app,
    err,
    out,
)

feedback_app = typer.Typer(help="Findings sent back by models: submit, list, review.", no_args_is_help=True)
model_app = typer.Typer(help="Model runs: which models were trained on which version, and how they scored.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")
app.add_typer(model_app, name="model")

RefArg = Annotated[str, typer.Argument(help="Dataset, or dataset@version (default: the latest published version).")]


def _wh(project: Path | None, warehouse: Path | None) -> Any:
    return _settings(project, warehouse).warehouse


def _query(c: Any, sql: str, params: list[Any], max_rows: int = 200, more: str = LIMIT_MORE) -> int:
    """Print a query's rows (if any) and return how many there are; the query runs once."""
    rel = c.sql(sql, params)
    rows = rel.fetchall()
    if rows:
        _print_rows(rel.columns, rows, max_rows, more)
    return len(rows)


def _show(
    sql: str, params: list[Any], project: Path | None, warehouse: Path | None, max_rows: int = 200, more: str = LIMIT_MORE
) -> int:
    """`_query` on a client of its own."""
    with _client(project, warehouse) as c:
        return _query(c, sql, params, max_rows, more)


def _scope(name: str, version: int, demand: str | None) -> tuple[str, list[Any]]:
    """WHERE clause and parameters for one version of a dataset, optionally one demand."""
    where = "dataset = $1 AND version = $2" + (" AND demand = $3" if demand else "")
    return where, [name, version, *([demand] if demand else [])]


@app.command()
def gaps(
    ref: RefArg,
    demand: Annotated[str | None, typer.Option("--demand", "-d", help="Only this demand.")] = None,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """What each model demand lacks in a version: strata, classes and time spans below their minimum."""
    with _client(project, warehouse) as c:
        name, version = _resolved(c, ref)
        where, params = _scope(name, version, demand)
        measured = _query(
            c,
            "SELECT demand, rows, covered_strata || ' / ' || required_strata AS strata, round(representativeness, 3) AS representativeness, "
            f"round(class_balance, 4) AS class_balance, round(time_coverage, 3) AS time_coverage, gaps, met FROM demand_results WHERE {where} ORDER BY demand",
            params,
        )  # fmt: skip
        if not measured:
            _fail(
                f"no demand measured on `{name}` v{version}"
                + (f" named `{demand}`" if demand else "")
                + " (dataset_specs/demands/)"
            )
        short = _query(
            c,
            f"SELECT demand, kind, key, observed, required, shortfall FROM demand_gaps WHERE {where} ORDER BY demand, kind, shortfall DESC",
            params,
        )
    if not short:
        out.print(f"every demand is met by `{name}` v{version}")


@app.command()
def splits(
    ref: RefArg,
    demand: Annotated[str | None, typer.Option("--demand", "-d", help="Only this demand.")] = None,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """The train / validation / test splits of a version per demand, with rows, entities and classes."""
    with _client(project, warehouse) as c:
        name, version = _resolved(c, ref)
        where, params = _scope(name, version, demand)
        found = _query(
            c,
            f"SELECT demand, split, method, seed, rows, entities, class_counts, leak_free, path FROM splits WHERE {where} ORDER BY demand, split",
            params,
        )
    if not found:
        _fail(f"no splits for `{name}` v{version}; run `moshu run` (splits are made per demand)")
    err.print(f"rows with their split: select * from split('{name}', {version}, '<demand>')")


@app.command()
def trials(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")], project: ProjectOpt = None, warehouse: WarehouseOpt = None
) -> None:
    """Trial training per version and demand, beside the previous version: does the data lift the model?

    `frozen` is the metric on the demand's frozen evaluation set (its first rows and labels), which the
    verdict uses; `current` the same rows with this version's labels; `relabelled` and `missing` count
    the frozen rows this version relabelled or no longer has.
    """
    if not _show(
        "SELECT demand, version, metric, round(value, 4) AS frozen, round(previous_value, 4) AS previous, round(lift, 4) AS lift, "
        "round(noise, 4) AS noise, verdict, round(current_value, 4) AS current, relabelled, missing "
        "FROM trial_trend WHERE dataset = $1 ORDER BY demand, version",
        [dataset], project, warehouse,
    ):  # fmt: skip
        _fail(f"no trial training recorded for `{dataset}` (it needs a demand with a label)")


@app.command()
def diff(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    v1: Annotated[int, typer.Argument(help="From version.")],
    v2: Annotated[int, typer.Argument(help="To version.")],
    rows: Annotated[int, typer.Option("--rows", help="Changed rows to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """What changed between two versions: rows, labels, quarantine, scores and demand coverage.

    The diff is stored in the catalog (`version_diffs`, and its rows in `diff_rows(name, v1, v2)`).
    """
    from pipelines.catalog.db import writer
    from pipelines.errors import MoshuError
    from pipelines.models.diff import diff_versions, summary
    from pipelines.models.stage import store_diff

    wh = _wh(project, warehouse)
    try:
        d = diff_versions(wh, dataset, v1, v2)
        with writer(wh) as con:
            store_diff(con, wh, d)
            coverage = con.execute(
                "SELECT demand, max(CASE WHEN version = $2 THEN representativeness END) - max(CASE WHEN version = $1 THEN representativeness END), "
                "max(CASE WHEN version = $2 THEN gaps END) - max(CASE WHEN version = $1 THEN gaps END) "
                "FROM demand_results WHERE dataset = $3 AND version IN ($1, $2) GROUP BY demand ORDER BY demand",
                [v1, v2, dataset],
            ).fetchall()
    except MoshuError as e:
        _fail(str(e))
    s = summary(d)
    s["coverage_deltas"] = {dm: {"representativeness": r, "gaps": g} for dm, r, g in coverage}
    if as_json:
        out.print_json(json.dumps(s, default=str))
        return
    t = Table("measure", f"v{v1} -> v{v2}")
    for k in ("rows_added", "rows_removed", "rows_changed", "rows_unchanged", "labels_changed", "flags_changed",
              "quarantine_added", "quarantine_removed", "columns_added", "columns_removed"):  # fmt: skip
        t.add_row(k, str(s[k]))
    t.add_row("score", " -> ".join("n/a" if x is None else f"{x:.4f}" for x in (d.score_v1, d.score_v2)))
    t.add_row("level", f"{d.level_v1} -> {d.level_v2}")
    for dim, delta in sorted(d.dimension_deltas.items()):
        if delta:
            t.add_row(f"dimension {dim}", f"{delta:+.4f}")
    for col, n in sorted(d.changed_by_column.items()):
        if n:
            t.add_row(f"changed `{col}`", str(n))
    for dm, r, g in coverage:
        t.add_row(
            f"demand {dm}", f"representativeness {'n/a' if r is None else f'{r:+.3f}'}, gaps {'n/a' if g is None else f'{g:+d}'}"
        )
    out.print(t)
    if d.rows.height:
        _print_table_frame(d.rows.head(rows))
        if d.rows.height > rows:
            err.print(f"({d.rows.height} changed rows; all of them: select * from diff_rows('{dataset}', {v1}, {v2}))")


def _print_table_frame(df: Any) -> None:
    t = Table(*df.columns)
    for r in df.iter_rows():
        t.add_row(*("NULL" if v is None else ", ".join(v) if isinstance(v, list) else str(v) for v in r))
    out.print(t)


# ---------------------------------------------------------------- feedback


@feedback_app.command("submit")
def feedback_submit(
    ref: RefArg,
    file: Annotated[
        Path | None,
        typer.Argument(help="CSV or Parquet with row_key, kind [, column, suggested_value, confidence, note, model_run_id]."),
    ] = None,
    sql_query: Annotated[
        str | None, typer.Option("--sql", help="Instead of a file: a catalog query returning the same columns.")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who submits (team or person).")] = "",
    run: Annotated[str | None, typer.Option("--run", help="Model run the findings come from (moshu model register).")] = None,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Submit findings on a version (all or nothing): suspected label errors, outliers, hard examples, wrong units."""
    from pipelines.errors import MoshuError
    from pipelines.models.feedback import read_findings, submit

    if file is None and sql_query is None:
        _fail("give a findings file (CSV or Parquet) or --sql QUERY", EXIT_USAGE)
    if file is not None and sql_query is not None:
        _fail("give a findings file or --sql, not both", EXIT_USAGE)
    try:
        if file is not None:
            rows, source = read_findings(file), file.name
        else:
            with _client(project, warehouse) as c:
                rel = c.sql(str(sql_query))
                rows, source = [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()], "sql"
        ids = submit(_wh(project, warehouse), ref, rows, by=by, source=source, model_run=run)
    except MoshuError as e:
        _fail(str(e))
    out.print(f"recorded {len(ids)} findings as proposed (ids {ids[0]}..{ids[-1]}); review with `moshu feedback review`")


@feedback_app.command("list")
def feedback_list(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    status: Annotated[str | None, typer.Option("--status", help="proposed | accepted | rejected.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show.")] = 50,
    held: Annotated[
        bool, typer.Option("--held", help="Instead: the detector's candidates held back by the class cap, with their scores.")
    ] = False,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Findings on a dataset with their state, most confident first (`--held`: the candidates not proposed)."""
    if held:
        import polars as pl

        from pipelines.models.detector import held_candidates

        rows = held_candidates(_wh(project, warehouse), dataset)
        if rows.is_empty():
            out.print(f"no detector candidates held back on `{dataset}`")
        else:
            rows = rows.with_columns(pl.col("neighbours").list.join(", ")).drop("run_id", "column_name")
            _print_rows(rows.columns, rows.rows(), limit, LIMIT_MORE)
        return
    where = "dataset = $1" + (" AND status = $2" if status else "")
    if not _show(
        "SELECT feedback_id AS id, version, row_key, kind, column_name AS column, suggested_value AS suggested, "
        "round(confidence, 3) AS confidence, status, submitted_by, reviewed_by, review_reason, note "
        f"FROM feedback_status WHERE {where} ORDER BY confidence DESC NULLS LAST, feedback_id",
        [dataset, *([status] if status else [])], project, warehouse, max_rows=limit,
    ):  # fmt: skip
        out.print(f"no findings on `{dataset}`" + (f" with status {status}" if status else ""))


def _ids(spec: list[str]) -> tuple[list[int], str | None]:
    """`3 5 7-9` -> [3, 5, 7, 8, 9]; `cnc_line#3 cnc_line#7-9` -> the ids and the dataset they must be on."""
    ids: list[int] = []
    datasets: set[str] = set()
    for part in ",".join(spec).replace(" ", ",").split(","):
        if not part:
            continue
        if "#" in part:
            name, _, part = part.rpartition("#")
            datasets.add(name)
        a, _, b = part.partition("-")
        try:
            ids.extend(range(int(a), int(b or a) + 1))
        except ValueError:
            _fail(f"`{part}` is not a feedback id or range (e.g. 12, 12-15 or cnc_line#12)", EXIT_USAGE)
    if len(datasets) > 1:
        _fail(f"review one dataset's findings at a time (ids name {', '.join(sorted(datasets))})", EXIT_USAGE)
    return ids, next(iter(datasets), None)


@feedback_app.command("review")
def feedback_review(
    ids: Annotated[
        list[str], typer.Argument(help="Feedback ids or ranges, e.g. 3 5 7-9, or qualified by dataset: cnc_line#3 cnc_line#7-9.")
    ],
    accept: Annotated[bool, typer.Option("--accept", help="Accept: the next run applies them.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject: nothing changes.")] = False,
    by: Annotated[str, typer.Option("--by", help="Reviewer.")] = "",
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "",
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Refuse ids that are not findings on this dataset.")
    ] = None,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Accept or reject findings; the next `moshu run` makes a new version with the accepted corrections.

    Ids are numbered across datasets: qualify them (`cnc_line#12`) or pass `--dataset` so that an id of
    another dataset is refused instead of decided.
    """
    from pipelines.errors import MoshuError
    from pipelines.models.feedback import review

    if accept == reject:
        _fail("say --accept or --reject", EXIT_USAGE)
    try:
        numbers, named = _ids(ids)
        if dataset and named and dataset != named:
            _fail(f"--dataset {dataset} and ids qualified with {named}#: say one dataset", EXIT_USAGE)
        n = review(
            _wh(project, warehouse), numbers, "accepted" if accept else "rejected", by=by, reason=reason, dataset=dataset or named
        )
    except MoshuError as e:
        _fail(str(e))
    out.print(f"{'accepted' if accept else 'rejected'} {n} finding{'s' if n != 1 else ''}")


# ---------------------------------------------------------------- model runs


def _pairs(items: list[str], what: str, numeric: bool) -> dict[str, Any]:
    outd: dict[str, Any] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            _fail(f"--{what} `{item}` is not name=value", EXIT_USAGE)
        if numeric:
            try:
                outd[k] = float(v)
            except ValueError:
                _fail(f"--{what} `{item}`: `{v}` is not a number", EXIT_USAGE)
        else:
            try:
                outd[k] = json.loads(v)
            except json.JSONDecodeError:
                outd[k] = v
    return outd


@model_app.command("register")
def model_register(
    ref: RefArg,
    model: Annotated[str, typer.Option("--model", help="Model name (and version), e.g. xgb-failure-v3.")],
    metric: Annotated[list[str], typer.Option("--metric", help="name=value, repeatable (scored on the test split).")],
    by: Annotated[str, typer.Option("--by", help="Who registers it.")],
    demand: Annotated[str | None, typer.Option("--demand", help="The demand (and so the split) it was trained for.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="name=value hyper-parameter, repeatable.")] = None,
    notes: Annotated[str, typer.Option("--notes")] = "",
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Record a model trained on dataset@version, with its metrics; prints the run id for feedback."""
    from pipelines.errors import MoshuError
    from pipelines.models.feedback import register_model_run

    try:
        run_id = register_model_run(
            _wh(project, warehouse), model=model, ref=ref, metrics=_pairs(metric, "metric", True), by=by, demand=demand,
            params=_pairs(param or [], "param", False), notes=notes,
        )  # fmt: skip
    except MoshuError as e:
        _fail(str(e))
    out.print(run_id)


@model_app.command("list")
def model_list(
    dataset: Annotated[str | None, typer.Argument(help="Only this dataset.")] = None,
    project: ProjectOpt = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Which models were trained on which version, and how they scored."""
    where = "WHERE dataset = $1" if dataset else ""
    if not _show(
        f"SELECT dataset, version, model, kind, demand, metric, split, round(value, 4) AS value, registered_by, run_id FROM model_scores {where}",
        [dataset] if dataset else [], project, warehouse, max_rows=500,
    ):  # fmt: skip
        out.print("no model runs recorded")
