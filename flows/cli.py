"""The `salvage` command line: parse, call the domain, print. Nothing else lives here."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from archive.errors import SalvageError
from archive.home import Home
from archive.repair import recover
from archive.timeparse import parse_time
from flows.config import Config, load_config, resolve_home

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Salvage: a forensic archive of filings and web pages (WARC, index, fixity, export).",
)
out = Console()
err = Console(stderr=True)

HomeOpt = Annotated[Path | None, typer.Option("--home", help="Where everything is stored.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="salvage.toml to read.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AtOpt = Annotated[str | None, typer.Option("--at", help="ISO 8601 time or 14-digit timestamp.")]


@dataclasses.dataclass
class Session:
    home: Home
    config: Config


@app.callback()
def _options(ctx: typer.Context, home: HomeOpt = None, config: ConfigOpt = None) -> None:
    cfg = load_config(config, home=home)
    for warning in cfg.warnings:
        err.print(f"warning: {warning}", style="yellow", markup=False, highlight=False,
                  soft_wrap=True)
    ctx.obj = Session(Home(resolve_home(home, cfg)), cfg)


def _home(ctx: typer.Context) -> Home:
    """The home, made ready: created if new, abandoned `.open` files repaired (see repair.py)."""
    session: Session = ctx.obj
    home = session.home.ensure()
    for name in recover(home):
        err.print(f"[yellow]repaired and closed[/] {name} (left open by an interrupted run)")
    return home


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                    "{task.total}"), TimeRemainingColumn(), console=err, transient=True)


def _time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def _asdict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    return obj


# -- capture --------------------------------------------------------------------------------------


@app.command()
def capture(
    ctx: typer.Context,
    urls: Annotated[list[str] | None, typer.Argument(help="URLs to capture.")] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from-file", help="A file of URLs, one a line.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Archive a local file.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="The URI for --file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Capture URLs (or a local file) into WARC files."""
    from archive.capture import Capturer

    home = _home(ctx)
    todo = list(urls or [])
    if from_file:
        todo += [ln.strip() for ln in from_file.read_text().splitlines()
                 if ln.strip() and not ln.lstrip().startswith("#")]
    if file is None and not todo:
        raise click.UsageError("give URLs, --from-file F, or --file PATH --url URI")
    if file is not None and not url:
        raise click.UsageError("--file needs --url URI: the address to archive the file under")
    with Capturer(home, ctx.obj.config.capture_settings()) as capturer:
        if file is not None:
            results = [capturer.capture_file(file, url or "")]
        else:
            with _progress() as bar:
                task = bar.add_task("capturing", total=len(todo))
                results = capturer.capture_urls(todo, lambda r: bar.advance(task))
    if as_json:
        _print_json([r.as_dict() for r in results])
    else:
        table = Table("url", "status", "record", "bytes", "note")
        for r in results:
            table.add_row(r.url, str(r.status or ""), r.record_type or "-", str(r.bytes),
                          r.error or r.soft_error or "")
        out.print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


# -- import, reindex ------------------------------------------------------------------------------


@app.command("import")
def import_(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="WARC, ARC or WACZ files.")],
    as_json: JsonOpt = False,
) -> None:
    """Import other tools' WARC, ARC and WACZ files (copied read-only, then indexed)."""
    from archive.importer import import_files

    home = _home(ctx)
    reports = import_files(home, paths)
    if as_json:
        _print_json([_asdict(r) for r in reports])
    else:
        for r in reports:
            if not r.ok:
                err.print(f"[red]failed[/] {r.source}: {r.error}")
                continue
            note = "already imported" if r.already_imported else f"{r.indexed} captures indexed"
            out.print(f"imported {r.source} -> {r.name}: {note}")
            for w in r.warnings:
                err.print(f"  [yellow]warning[/] {w}")
    if any(not r.ok for r in reports):
        raise typer.Exit(1)


@app.command()
def reindex(
    ctx: typer.Context,
    search: Annotated[bool, typer.Option(
        "--search", help="Also rebuild the full-text index from the catalog's documents.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild the CDXJ index and the captures catalog from the WARC files alone."""
    from archive.reindex import reindex as rebuild

    home = _home(ctx)
    report = rebuild(home)
    if search:
        from extract.run import rebuild_search

        documents = rebuild_search(home)
        err.print(f"search index rebuilt: {documents} documents")
    if as_json:
        _print_json(_asdict(report))
    else:
        out.print(f"reindexed {report.files} files ({report.lines} index lines): "
                  f"{len(report.unchanged)} unchanged, {len(report.rewritten)} rewritten")
        for name, why in report.rewritten:
            err.print(f"  [yellow]rewrote[/] {name} ({why})")
        for name in report.orphans:
            err.print(f"  [yellow]orphan[/] {name} belongs to no archive file (left in place)")


# -- lookup, get ----------------------------------------------------------------------------------


@app.command()
def lookup(
    ctx: typer.Context,
    url: str,
    at: AtOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every capture (a TimeMap).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The capture of URL closest to --at (default now), or --all captures."""
    from archive.lookup import Index

    with Index(_home(ctx)) as index:
        lines = index.captures(url) if all_ else [index.closest(url, _time(at))]
    found = [ln.as_dict() for ln in lines if ln is not None]
    if as_json:
        _print_json(found if all_ else (found[0] if found else None))
    elif found:
        table = Table("timestamp", "status", "mime", "digest", "file", "offset", "flags")
        for c in found:
            flags = ", ".join(x for x in (c.get("soft_error"), c.get("truncated")) if x)
            table.add_row(c["timestamp"], c.get("status", ""), c.get("mime", ""),
                          c.get("digest", "")[:24], c["filename"], c["offset"], flags)
        out.print(table)
    if not found:
        err.print(f"no good capture of {url} in the archive")
        raise typer.Exit(1)


@app.command()
def get(
    ctx: typer.Context,
    url: str,
    at: AtOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE.")] = None,
    decode: Annotated[bool, typer.Option("--decode", help="Remove content encoding too.")] = False,
) -> None:
    """Write the archived payload of URL exactly as served (transfer encoding removed)."""
    from archive.lookup import Index
    from archive.payload import payload_line, stream_payload
    from storage.atomic import atomic_file

    home = _home(ctx)
    with Index(home) as index:
        line = index.closest(url, _time(at))
        if line is None:
            err.print(f"no good capture of {url} in the archive")
            raise typer.Exit(1)
        source = payload_line(home, index, line)
    chunks = stream_payload(home, source, decode=decode)
    if output is None:
        for data in chunks:
            sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with atomic_file(output) as fh:
            for data in chunks:
                fh.write(data)
        err.print(f"wrote {output} (capture {line.timestamp}, {source.filename}@{source.offset})")


@app.command("recover")
def recover_filings_(
    ctx: typer.Context,
    accessions: Annotated[list[str] | None, typer.Argument(
        help="Accession numbers, e.g. 0001104659-25-002604.")] = None,
    open_: Annotated[bool, typer.Option(
        "--open", help="Also the accessions of open filing incidents.")] = False,
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild filings from the archives into <home>/recovered/<accession>/ with a manifest.json
    (exit 1 unless every filing is fully recovered and verified)."""
    from archive.recover import open_incident_accessions, recover_filings

    home = _home(ctx)
    todo = list(accessions or [])
    if open_:
        todo += open_incident_accessions(home)
    elif not todo:
        raise click.UsageError("give accession numbers, or --open for those of open filing "
                               "incidents")
    recoveries = recover_filings(home, todo, at=_time(at))
    if as_json:
        _print_json([r.manifest for r in recoveries])
    elif not recoveries:
        out.print("no open filing incidents: nothing to recover")
    else:
        for r in recoveries:
            out.print(r.summary, markup=False, highlight=False)
    if any(r.status != "recovered" for r in recoveries):
        raise typer.Exit(1)


# -- verify, export -------------------------------------------------------------------------------


@app.command()
def verify(
    ctx: typer.Context,
    deep: Annotated[bool, typer.Option("--deep", help="Recompute block/payload digests.")] = False,
    tsa_ca: Annotated[Path | None, typer.Option(
        "--tsa-ca", help="CA certificate(s) to check drill report time-stamps against "
                         "(default: [drill] tsa_ca_file).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every record, index line and the audit chain against the recorded digests, and
    every drill report time-stamp (`<home>/drills/*/X.tsr`) against its file."""
    from archive.fixity import verify as run_verify
    from archive.timestamp import check_tokens

    home = _home(ctx)
    with _progress() as bar:
        tasks: dict[str, Any] = {}

        def advance(name: str, done: int, size: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"verifying {name.rsplit('/', 1)[-1][:40]}", total=size)
            bar.update(tasks[name], completed=done)

        report = run_verify(home, deep=deep, progress=advance)
    configured = ctx.obj.config.drill.tsa_ca_file
    stamps = check_tokens(home.root, ca_file=tsa_ca or (Path(configured) if configured else None))
    ok = report.ok and all(s["ok"] for s in stamps)
    if as_json:
        _print_json({**dataclasses.asdict(report), "ok": ok, "timestamps": stamps})
    else:
        out.print(f"checked {report.files_checked} files, {report.records_checked} records, "
                  f"{report.bytes:,} bytes")
        for p in report.problems:
            err.print(f"[red]FAIL[/] {p.message}")
        for s in stamps:
            if not s["ok"]:
                err.print(f"[red]FAIL[/] {escape(s['token'])}: {escape(s['detail'])}",
                          soft_wrap=True)
            else:
                note = "" if s["signature_checked"] else " (--tsa-ca or [drill] tsa_ca_file)"
                out.print(f"time-stamp {s['file']}: {s['time']}, {s['detail']}{note}",
                          markup=False, highlight=False, soft_wrap=True)
        out.print("[green]verify: ok[/]" if ok else "[red]verify: FAILED[/]")
    if not ok:
        raise typer.Exit(1)


@app.command()
def replicate(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option(
        "--to", help="Replica: /path, file:///path or s3://bucket/prefix?… (default: "
                     "[replica] uri).")] = None,
    restore: Annotated[bool, typer.Option(
        "--restore", help="Verify, then restore every damaged or missing file from the "
                          "replica.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy closed WARCs, indexes, catalog files and the audit log to the replica, each checked
    on arrival (--restore: bring damaged or missing files back from it, byte-exact)."""
    from archive.replicate import replicate as run_replicate
    from archive.restore import fixity_findings, restore_from_replica

    home = _home(ctx)
    config: Config = ctx.obj.config
    uri = to or config.replica.uri or None
    keys = {"access_key": config.secret("replica_access_key_id"),
            "secret_key": config.secret("replica_secret_access_key")}
    if not restore:
        report = run_replicate(home, uri or "", **keys)
        if as_json:
            _print_json(report.as_dict())
        else:
            out.print(f"replicated to {report.uri}: {len(report.copied)} copied "
                      f"({report.bytes:,} bytes), {len(report.adopted)} adopted, "
                      f"{len(report.superseded)} superseded, {report.skipped} already there",
                      markup=False, highlight=False)
            for p in report.problems:
                err.print(f"[red]problem[/] [{p.kind}] {escape(p.message)}", soft_wrap=True)
        if not report.ok:
            raise typer.Exit(1)
        return
    from archive.fixity import verify as run_verify

    findings = fixity_findings(home, uri, **keys)
    report = restore_from_replica(home, uri, findings, **keys)
    after = run_verify(home) if report.restored else None
    ok = report.ok and (after is None or after.ok)
    if as_json:
        _print_json({**report.as_dict(), "ok": ok,
                     "findings": [_asdict(f) for f in findings],
                     "verify": None if after is None else {"ok": after.ok,
                                                           "problems": len(after.problems)}})
    else:
        if not findings:
            out.print("nothing to restore: verify found no damaged or missing file")
        for r in report.restored:
            out.print(f"restored {r.file} (sha256 {r.sha256[:16]}…, {r.bytes:,} bytes)"
                      + (f"; the damaged copy is kept in {r.quarantined}" if r.quarantined
                         else ""), markup=False, highlight=False)
        for u in report.unrecoverable:
            err.print(f"[red]unrecoverable[/] {escape(u.file)}: {escape(u.reason)}",
                      soft_wrap=True)
        if after is not None:
            out.print("[green]verify: ok[/]" if after.ok else
                      f"[red]verify: FAILED[/] ({len(after.problems)} problems left)")
    if not ok:
        raise typer.Exit(1)


@app.command("export-wacz")
def export_wacz(
    ctx: typer.Context,
    target: Annotated[Path, typer.Argument(help="The .wacz file to write.")],
    url_prefix: Annotated[str | None, typer.Option("--url-prefix")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Earliest capture time.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Latest capture time.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Package captures as a WACZ 1.1.1 file any web-archive tool can open."""
    from archive.wacz import export_wacz as export

    report = export(_home(ctx), target, url_prefix, _time(start), _time(end))
    if as_json:
        _print_json(_asdict(report))
    else:
        out.print(f"wrote {target}: {_asdict(report)}")


# -- catalog: extract, query, search, compact -----------------------------------------------------


@app.command()
def extract(
    ctx: typer.Context,
    redo_all: Annotated[bool, typer.Option("--all", help="Redo every capture.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Extract every capture not yet extracted into the catalog (filings, documents, indexes)."""
    from extract.run import extract_home

    home = _home(ctx)
    with _progress() as bar:
        task = bar.add_task("extracting", total=None)
        report = extract_home(home, redo_all, lambda n, total: bar.update(task, completed=n,
                                                                           total=total))
    if as_json:
        _print_json(_asdict(report))
    else:
        rows = ", ".join(f"{n} {t}" for t, n in sorted(report.rows.items())) or "no rows"
        out.print(f"extracted {report.extracted} payloads ({report.already} already done): "
                  f"{rows} in {report.seconds:.1f} s")
        for q in report.quarantined:
            err.print(f"[yellow]quarantined[/] {q['url']}: {q['error_type']}: {q['reason']}")
        for u in report.unreadable:
            err.print(f"[red]unreadable[/] {u['url']}: {u['error']}")
    if report.unreadable:
        raise typer.Exit(1)


@app.command()
def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="One SELECT statement over the catalog views.")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")] = "table",
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="See the catalog as it was known then (ISO 8601 or timestamp).")] = None,
) -> None:
    """Read-only SQL (DuckDB) over the catalog; see docs/CATALOG.md for the views."""
    from flows.output import FORMATS, write_table
    from storage.query import Catalog

    if fmt not in FORMATS:
        raise click.UsageError(f"--format must be one of {', '.join(FORMATS)}")
    if fmt == "parquet" and sys.stdout.isatty():
        raise click.UsageError("--format parquet is binary: redirect it to a file (> x.parquet)")
    table = Catalog(_home(ctx).catalog, _time(as_of)).query(sql)
    write_table(table, fmt, out)


@app.command()
def search(
    ctx: typer.Context,
    terms: Annotated[str, typer.Argument(help='Words, or "an exact phrase".')],
    form: Annotated[str | None, typer.Option("--form", help="Only this form type.")] = None,
    cik: Annotated[str | None, typer.Option("--cik", help="Only filings of this CIK.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Earliest date.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Latest date.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 10,
    as_json: JsonOpt = False,
) -> None:
    """BM25 full-text search over every extracted document, best first."""
    from storage.search import SearchIndex

    home = _home(ctx)
    first, last = _time(start), _time(end)
    hits = SearchIndex(home.root / "search").search(
        terms, form=form, cik=cik, date_from=first.date() if first else None,
        date_to=last.date() if last else None, limit=limit)
    if as_json:
        _print_json([_asdict(h) for h in hits])
        return
    for rank, hit in enumerate(hits, 1):
        where = hit.accession or hit.url
        out.print(f"[bold]{rank}.[/] {where}  {hit.document or ''}  "
                  f"[dim]{hit.form or ''} {hit.date or ''} score {hit.score:.2f}[/]")
        out.print(f"   {hit.snippet}", markup=False, highlight=False)
    if not hits:
        out.print("no matches")


@app.command()
def compact(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Merge small catalog files without changing a row; the audit chain records each swap."""
    from storage.compact import compact as run_compact

    home = _home(ctx)
    reports = run_compact(home.catalog, home.audit)
    if as_json:
        _print_json([_asdict(r) for r in reports])
        return
    for r in reports:
        if r.replaced:
            out.print(f"{r.table}: {r.replaced} files merged into {len(r.merged)} "
                      f"({r.rows} rows, unchanged)")
    if not any(r.replaced for r in reports):
        out.print("nothing to compact")


# -- flows ----------------------------------------------------------------------------------------

ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="NAME=VALUE for the flow (VALUE read as JSON when it parses).")]


def _flow_params(flow_fn: Any, pairs: list[str]) -> dict[str, Any]:
    import inspect

    known = set(inspect.signature(flow_fn).parameters) - {"home"}
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            raise typer.BadParameter(f"{pair!r}: expected NAME=VALUE with NAME one of "
                                     f"{', '.join(sorted(known))}", param_hint="--param")
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def _use_home_prefect(home: Home) -> None:
    """Runs without a configured API keep Prefect's database in the home (before importing it)."""
    import os

    from flows.serve import prefect_env

    if not os.environ.get("PREFECT_API_URL"):
        for key, value in prefect_env(home).items():
            os.environ.setdefault(key, value)


@app.command()
def run(
    ctx: typer.Context,
    flow: Annotated[str, typer.Argument(
        help="ingest-edgar, ingest-pages, ingest-drop, extract-pending or detect-gaps.")],
    param: ParamOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one flow now through Prefect (the configured API, else a temporary local one)."""
    home = _home(ctx)
    _use_home_prefect(home)
    from flows.registry import FLOWS

    if flow not in FLOWS:
        raise typer.BadParameter(f"{flow!r}: choose from {', '.join(FLOWS)}", param_hint="FLOW")
    result = FLOWS[flow](home=str(home.root), **_flow_params(FLOWS[flow].fn, param or []))
    if as_json:
        _print_json(result)
        return
    for key, value in result.items():
        if isinstance(value, list):
            out.print(f"{key}: {len(value)}")
            for item in value[:20]:
                out.print(f"  {item}", markup=False, highlight=False)
        else:
            out.print(f"{key}: {value}", markup=False, highlight=False)


@app.command()
def serve(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(
        "--port", help="Port of the Prefect server started here (0: any free port).")] = None,
) -> None:
    """Serve the flows on their schedules until SIGTERM or Ctrl-C (starting a Prefect API
    server with its database in the home unless PREFECT_API_URL names one)."""
    import contextlib
    import os

    from flows.serve import api_server, deployments, free_port, prefect_env, serve_deployments

    home = _home(ctx)
    config: Config = ctx.obj.config
    os.environ["SALVAGE_HOME"] = str(home.root.resolve())  # the flow runs' processes inherit it
    if config.path:
        os.environ["SALVAGE_CONFIG"] = str(Path(config.path).resolve())
    given = os.environ.get("PREFECT_API_URL") or config.prefect.api_url
    chosen = config.prefect.port if port is None else port
    server = contextlib.nullcontext(given) if given else api_server(home, chosen or free_port())
    with server as api:
        if not given:
            os.environ.update(prefect_env(home))
        os.environ["PREFECT_API_URL"] = api
        sys.stdout.write(f"Prefect UI and API: {api.removesuffix('/api')}\n")
        sys.stdout.flush()
        items = deployments(home, config.schedules.as_dict(), config.schedules.timezone)
        err.print(f"serving {len(items)} deployments: "
                  + ", ".join(d.name for d in items) + " (Ctrl-C or SIGTERM stops)")
        serve_deployments(items)
    err.print("stopped")


# -- drop: the scan drop folder -------------------------------------------------------------------

drop_app = typer.Typer(no_args_is_help=True, help="The scan drop folder: archive mailed paper "
                       "filings' scans, move them to processed/, tie them to their filings.")
app.add_typer(drop_app, name="drop")


def _drop_rows(rows: list[dict]) -> None:
    table = Table("sha256", "original name", "accession", "tied by", "problem")
    for r in rows:
        table.add_row(r["sha256"][:12], r["original_name"], r["accession"] or "",
                      r["tied_by"] or "-", r["problem"] or "")
    out.print(table)


def _drop_json(data: Any) -> None:
    from flows.output import json_default

    sys.stdout.write(json.dumps(data, indent=2, default=json_default) + "\n")


@drop_app.command("scan")
def drop_scan(
    ctx: typer.Context,
    folder: Annotated[Path | None, typer.Argument(help="The drop folder (default <home>/drop).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Archive every scan ready in FOLDER, record it in `drops`, move it to processed/.
    Then run `salvage extract` to OCR them."""
    from archive.drop import scan_drop

    home = _home(ctx)
    report = scan_drop(home, folder or home.root / "drop", capturer_settings=ctx.obj.config
                       .capture_settings())
    if as_json:
        _drop_json({"ok": report.ok, **_asdict(report)})
    else:
        _drop_rows(report.archived + report.already)
        out.print(f"{len(report.archived)} archived, {len(report.already)} already archived "
                  f"(moved only), {len(report.skipped)} left in {report.folder}")
        for p in report.problems:
            err.print(f"[yellow]problem[/] {p['name']}: {p['problem']}")
        for f in report.failed:
            err.print(f"[red]failed[/] {f['name']}: {f['error']}")
    if not report.ok:
        raise typer.Exit(1)


@drop_app.command("list")
def drop_list(
    ctx: typer.Context,
    untied: Annotated[bool, typer.Option("--untied", help="Only files tied to no filing.")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Every file archived from the drop folder, as currently tied."""
    from archive.drop import current_drops, untied_drops

    home = _home(ctx)
    rows = untied_drops(home) if untied else current_drops(home)
    if as_json:
        _drop_json(rows)
    else:
        _drop_rows(rows)


@drop_app.command("tie")
def drop_tie(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="sha256, original name or path of the file.")],
    accession: Annotated[str, typer.Argument(help="Accession, e.g. 0001234567-24-000123.")],
    cik: Annotated[str | None, typer.Option("--cik", help="The filer's CIK.")] = None,
    form: Annotated[str | None, typer.Option("--form", help="The form type, e.g. 10-K.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Tie a dropped file to a filing by hand (a new row: the latest tie is the current one)."""
    from archive.drop import tie_drop

    row = tie_drop(_home(ctx), file, accession, cik=cik, form=form)
    if as_json:
        _drop_json(row)
    else:
        out.print(f"tied {row['original_name']} ({row['sha256'][:16]}) to {row['accession']}")


# -- book: order books from market-data feeds -----------------------------------------------------

book_app = typer.Typer(no_args_is_help=True, help="Order books from market-data feeds (LOBSTER, "
                       "Databento MBO, NASDAQ ITCH 5.0, exchange L2 deltas): import them, the "
                       "book at any moment, replay, gaps, liquidity.")
app.add_typer(book_app, name="book")


FEED_FORMATS = ("lobster", "mbo", "itch", "l2")


def _price(value: int | None, scale: int) -> str:
    from decimal import Decimal

    return "" if value is None else f"{Decimal(value) / Decimal(scale or 1):f}"


@book_app.command("import")
def book_import(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Feed files (a LOBSTER message file takes "
                                                     "its orderbook file beside it along).")],
    fmt: Annotated[str, typer.Option("--format", help="lobster, mbo, itch or l2.")],
    venue: Annotated[str | None, typer.Option(
        "--venue", help="The venue (a MIC, e.g. XNAS) when the feed does not say; L2: binance, "
                        "coinbase or kraken.")] = None,
    lines: Annotated[bool, typer.Option(
        "--lines", help="ITCH/L2: the files are redundant captures (A/B lines, two hosts) of "
                        "one feed: merge them by sequence number into one stream.")] = False,
    symbol: Annotated[str | None, typer.Option(
        "--symbol", help="The symbol (LOBSTER: else from the file name; MBO: keep only this "
                         "one, by symbol or instrument_id).")] = None,
    day: Annotated[str | None, typer.Option(
        "--date", help="The trading day, YYYY-MM-DD (LOBSTER: else from the file name).")] = None,
    checkpoint_every: Annotated[int, typer.Option(
        "--checkpoint-every", help="Events between two full-book checkpoints.")] = 25_000,
    as_json: JsonOpt = False,
) -> None:
    """Archive feed files in the WARCs (urn:salvage:feed:<sha256>), store their events in
    partitioned Parquet with a book checkpoint every N events, record them in `book_files`.
    Importing the same bytes again does nothing."""
    from datetime import date as Date

    from orderbook.store import import_feeds

    try:
        trading_day = Date.fromisoformat(day) if day else None
    except ValueError as exc:
        raise typer.BadParameter(f"{day!r} is not a date like 2012-06-21",
                                 param_hint="--date") from exc
    try:
        report = import_feeds(_home(ctx), files, fmt, venue=venue, symbol=symbol,
                              day=trading_day, checkpoint_every=checkpoint_every, lines=lines,
                              settings=ctx.obj.config.capture_settings())
    except SalvageError as exc:
        err.print(f"[red]cannot import[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    if as_json:
        _print_json(report.as_dict())
    else:
        table = Table("file", "sha256", "symbol", "date", "events", "checkpoints", "errors", "note")
        for f in report.files:
            note = "already imported" if f.already else (f.error_type or "")
            for s in f.symbols or [{}]:
                table.add_row(escape(f.name), (f.sha256 or "")[:12], s.get("symbol") or "-",
                              str(s.get("date") or ""), f"{s.get('events', 0):,}",
                              str(s.get("checkpoints", 0)), f"{f.error_count:,}", note)
        out.print(table)
        already = sum(f.already for f in report.files)
        failed = sum(not f.ok for f in report.files)
        out.print(f"{len(report.files) - already - failed} imported, {already} already imported "
                  f"(nothing done), {failed} failed")
    for f in report.files:
        for e in f.errors[:20]:
            err.print(f"[yellow]{escape(f.name)}[/] line {e['line']}: {escape(e['reason'])}",
                      soft_wrap=True)
        if f.error_count > 20:
            err.print(f"  … {f.error_count - 20:,} more (`salvage query \"SELECT errors FROM "
                      f"book_files WHERE sha256 = '{f.sha256}'\"`)")
        for finding in f.findings[:20]:
            err.print(f"[yellow]{finding['kind']}[/] {escape(f.name)} line {finding['line']}: "
                      f"{escape(finding['detail'])}", soft_wrap=True)
        if f.error:
            err.print(f"[red]{escape(f.error_type or 'error')}[/] {escape(f.name)}: "
                      f"{escape(f.error)}", soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@book_app.command("at")
def book_at_(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="The symbol, e.g. AAPL.")],
    moment: Annotated[str, typer.Argument(
        metavar="TIME", help="ISO 8601, up to nanoseconds (no offset: UTC), e.g. "
                             "2012-06-21T13:30:05.123456789Z, or ns since the epoch.")],
    depth: Annotated[int, typer.Option("--depth", help="Levels per side.")] = 10,
    venue: Annotated[str | None, typer.Option("--venue", help="Only this venue's feeds.")]
    = None,
    sha256: Annotated[str | None, typer.Option(
        "--file", help="Only the feed file with this sha256 (or a prefix of it).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The book of SYMBOL at TIME: the nearest checkpoint, then the stored events up to TIME."""
    from orderbook.at import book_at

    if depth < 1:
        raise typer.BadParameter("give a depth of at least 1", param_hint="--depth")
    found = book_at(_home(ctx), symbol, moment, depth=depth, venue=venue, sha256=sha256)
    if as_json:
        _print_json(found.as_dict())
        return
    data = found.as_dict()
    out.print(f"{found.symbol} {found.venue} at {data['at']}: last event {data['ts']} "
              f"(event {found.events:,} of {found.original_name}, "
              f"{found.replayed:,} replayed from checkpoint {found.checkpoint_event:,})",
              markup=False, highlight=False)
    table = Table("orders", "bid size", "bid", "ask", "ask size", "orders")
    scale = found.price_scale
    for j in range(max(len(found.bids), len(found.asks))):
        bid = found.bids[j] if j < len(found.bids) else None
        ask = found.asks[j] if j < len(found.asks) else None
        table.add_row(str(bid["orders"]) if bid else "", f"{bid['size']:,}" if bid else "",
                      _price(bid["price"], scale) if bid else "",
                      _price(ask["price"], scale) if ask else "",
                      f"{ask['size']:,}" if ask else "", str(ask["orders"]) if ask else "")
    out.print(table)


@book_app.command("gaps")
def book_gaps_(
    ctx: typer.Context,
    silence: Annotated[float, typer.Option(
        "--silence", help="Seconds without an event in trading hours that make a gap.")] = 60.0,
    whole_channel: Annotated[bool, typer.Option(
        "--whole-channel", help="The files hold whole channels: check sequence numbers.")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Gaps in the stored books: silences, crossed or locked books, MAYBE_BAD_BOOK, sequence
    holes, missing trading days (the `detect-gaps` flow turns them into incidents)."""
    from datetime import timedelta

    from orderbook.gaps import book_gaps

    report = book_gaps(_home(ctx), silence=timedelta(seconds=silence),
                       whole_channel=whole_channel)
    if as_json:
        _print_json({"files": report.files, "events": report.events,
                     "findings": [_finding(f) for f in report.findings],
                     "not_checkable": report.not_checkable})
        return
    out.print(f"{report.files} files, {report.events:,} events checked: "
              f"{len(report.findings)} gaps")
    for f in report.findings:
        out.print(f"  {f.type:<24} {f.subject}", markup=False, highlight=False)
    for note in report.not_checkable:
        err.print(f"[yellow]not checked[/] {escape(note)}")


def _finding(f: Any) -> dict:
    return {"type": f.type, "key": f.key, "entity": f.entity, "period": f.period,
            "subject": f.subject, "window_start": f.window_start, "window_end": f.window_end,
            "evidence": f.evidence}


@book_app.command("liquidity")
def book_liquidity(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="The symbol, e.g. AAPL.")],
    start: Annotated[str, typer.Option(
        "--from", help="ISO 8601 (no offset: UTC) or ns since the epoch, as `book at` reads it.")],
    end: Annotated[str, typer.Option("--to", help="The end of the range (not included).")],
    out_path: Annotated[Path, typer.Option("-o", "--out", help="FILE.parquet to write.")],
    interval: Annotated[str, typer.Option("--interval", help="30s, 1m, 5m, 1h ...")] = "1m",
    size: Annotated[float | None, typer.Option(
        "--size", help="Shares (or coins) to buy and sell by walking the book.")] = None,
    bps: Annotated[str, typer.Option(
        "--bps", help="Distances from the mid for the depth columns, in bps.")] = "10,25,50",
    venue: Annotated[str | None, typer.Option("--venue", help="Only this venue's feeds.")]
    = None,
    depth: Annotated[int, typer.Option("--depth", help="Levels per side read.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Liquidity windows of SYMBOL from the stored books, one row per interval: time-weighted
    and closing spread, depth within each --bps of the mid, the cost of --size; written to
    --out (columns: orderbook/liquidity.py)."""
    from orderbook.liquidity import as_rows, liquidity, parse_interval, write_liquidity

    if out_path.suffix.lower() != ".parquet":
        raise typer.BadParameter("name the file FILE.parquet", param_hint="--out")
    table = liquidity(_home(ctx), symbol, start, end, interval_ns=parse_interval(interval),
                      size=size, bps=bps, venue=venue, depth=depth)
    write_liquidity(table, out_path)
    meta = {k.decode().removeprefix("salvage."): v.decode()
            for k, v in (table.schema.metadata or {}).items()}
    if as_json:
        _print_json({"out": str(out_path), "metadata": meta, "rows": as_rows(table)})
        return
    rows = as_rows(table)
    first = meta["bps"].split(",")[0].replace(".", "_")
    states = {s: sum(r["state"] == s for r in rows) for s in ("ok", "unknown", "no_book")}
    out.print(f"{symbol} {meta['venue']} {meta['from']} .. {meta['to']}: {len(rows)} intervals "
              f"of {meta['interval']} ({', '.join(f'{n} {s}' for s, n in states.items())}), "
              f"{sum(r['events'] for r in rows):,} events -> {out_path}",
              markup=False, highlight=False, soft_wrap=True)
    one_day = meta["from"][:10] == rows[-1]["interval_start"][:10]

    def num(value: float | None, fmt: str) -> str:
        return "" if value is None else format(value, fmt)

    heads = ["start", "state", "events", "spread", "bps", f"depth ±{first}bps"]
    heads += ["buy bps", "sell bps"] if size is not None else []
    view = Table(*heads)
    for r in rows[:20]:
        cells = [r["interval_start"][11:19] if one_day else r["interval_start"][5:19],
                 r["state"], f"{r['events']:,}",
                 num(r["spread_twa"], ".4f"), num(r["spread_bps_twa"], ".1f"),
                 num(r[f"depth_{first}bps_twa"], ",.0f")]
        if size is not None:
            cells += [num(r["buy_cost_bps_twa"], ".1f"), num(r["sell_cost_bps_twa"], ".1f")]
        view.add_row(*cells)
    out.print(view)
    if len(rows) > 20:
        out.print(f"… {len(rows) - 20:,} more intervals in {out_path}", markup=False,
                  highlight=False)


@book_app.command("replay")
def book_replay(
    files: Annotated[list[Path], typer.Argument(
        metavar="FILE...", help="A LOBSTER message file, a Databento MBO CSV, an ITCH 5.0 file "
                                "or pcap, an L2 JSON-lines capture; several: the A/B lines of "
                                "one ITCH or L2 feed, merged.")],
    out_path: Annotated[Path, typer.Option(
        "-o", "--out", help="OUT.csv (+ OUT.csv.meta.json), OUT.parquet or OUT.arrow.")],
    fmt: Annotated[str | None, typer.Option(
        "--format", help="lobster, mbo, itch or l2 (default: from the name or the first "
                         "line).")] = None,
    depth: Annotated[int, typer.Option("--depth", help="Levels per side in each row.")] = 10,
    symbol: Annotated[str | None, typer.Option(
        "--symbol", help="MBO/ITCH/L2: the instrument to replay (symbol, instrument_id or "
                         "ITCH stock locate).")] = None,
    venue: Annotated[str | None, typer.Option(
        "--venue", help="L2: binance, coinbase or kraken (default: from the messages).")]
    = None,
    book: Annotated[Path | None, typer.Option(
        "--book", help="LOBSTER: the orderbook file (default: the one beside FILE).")] = None,
    no_book: Annotated[bool, typer.Option(
        "--no-book", help="LOBSTER: start from an empty book, use no orderbook file.")] = False,
    day: Annotated[str | None, typer.Option(
        "--date", help="LOBSTER/ITCH: the trading day, YYYY-MM-DD (else from the file "
                       "name).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """The top DEPTH levels after every event of FILE, one row per event in input order: ts,
    ask_price_1, ask_size_1, bid_price_1, bid_size_1, ... (prices in the feed's integer units)."""
    from datetime import date as Date

    from orderbook.events import FeedError
    from orderbook.replay import open_feed, replay, write_replay

    if depth < 1:
        raise typer.BadParameter("give a depth of at least 1", param_hint="--depth")
    if fmt is not None and fmt not in FEED_FORMATS:
        raise typer.BadParameter(f"choose {', '.join(FEED_FORMATS)}", param_hint="--format")
    try:
        trading_day = Date.fromisoformat(day) if day else None
    except ValueError as exc:
        raise typer.BadParameter(f"{day!r} is not a date like 2012-06-21",
                                 param_hint="--date") from exc
    try:
        feed = open_feed(files if len(files) > 1 else files[0], fmt, symbol=symbol,
                         date=trading_day, venue=venue)
        result = replay(feed, depth, book_file=book, symbol=symbol, use_book=not no_book)
        write_replay(result, out_path)
    except (FeedError, SalvageError) as exc:
        err.print(f"[red]cannot replay[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from exc
    if as_json:
        _print_json({"out": str(out_path), "format": result.info.format,
                     "symbol": result.info.symbol, "price_scale": result.info.price_scale,
                     "size_scale": result.info.size_scale, "depth": depth,
                     "counts": result.counts, "errors": [e.as_dict() for e in result.errors],
                     "findings": [f.as_dict() for f in result.findings]})
        return
    out.print(result.summary(), markup=False, highlight=False, soft_wrap=True)
    for f in result.findings[:20]:
        err.print(f"[yellow]{f.kind}[/] line {f.line}: {escape(f.detail)}", soft_wrap=True)
    for e in result.errors[:20]:
        err.print(f"[yellow]line {e.line}[/] {escape(e.reason)}", soft_wrap=True)
    if len(result.errors) > 20:
        err.print(f"  … {len(result.errors) - 20:,} more in the output's metadata")


# -- drill: forensic drills ------------------------------------------------------------------------

drill_app = typer.Typer(help="Forensic drills: sample what the archive holds, lose it in a "
                        "scratch copy, recover it with the production code, verify and report.")
app.add_typer(drill_app, name="drill")


@drill_app.callback(invoke_without_command=True)
def drill(
    ctx: typer.Context,
    scenario: Annotated[list[str] | None, typer.Option(
        "--scenario", help="all, filings, pages, orderbook or store (repeat for several).")] = None,
    sample: Annotated[str | None, typer.Option(
        "--sample", help="Items per scenario (25) or a share (10%); default [drill] sample.")]
    = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="The sample's seed: the same seed, the same sample.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a drill: the verdict, RTO and RPO, the checks; the report goes to drills/<id>/ in the
    home (HTML, PDF, JSON), its sha256 to the audit chain. Exit 0 on pass, 1 on fail."""
    if ctx.invoked_subcommand is not None:
        return
    from flows.drill import drill_as_configured
    from storage.drill import SCENARIOS

    home = _home(ctx)
    chosen = [s for name in (scenario or ["all"]) for s in (
        SCENARIOS if name == "all" else [name])]
    result = drill_as_configured(home, ctx.obj.config, chosen, sample, seed)
    _announce_drill(ctx, home, result)
    if as_json:
        _print_json(result)
    else:
        out.print(f"{result['id']}: [bold]{result['verdict'].upper()}[/] — "
                  f"{len(result['items'])} items, RTO {result['rto_s']:.1f} s"
                  + (f", RPO {result['rpo_s']:,.0f} s" if result["rpo_s"] is not None else ""))
        table = Table("check", "target", "actual", "result")
        for c in result["checks"]:
            table.add_row(escape(c["name"]), escape(c["target"]), escape(c["actual"]),
                          "pass" if c["passed"] else "[red]fail[/]")
        out.print(table)
        for i in result["items"]:
            if not i["byte_exact"]:
                err.print(f"[yellow]{i['scenario']}[/] {escape(i['item'])}: "
                          f"{escape(i['note'] or 'not byte-exact')}", soft_wrap=True)
        out.print(f"report: {home.root / result['report']['pdf']} "
                  f"(and report.html, result.json)")
    if result["verdict"] != "pass":
        raise typer.Exit(1)


def _announce_drill(ctx: typer.Context, home: Home, result: dict) -> None:
    """`salvage.drill.completed` through the incident sinks (a failed delivery waits in the
    outbox for `salvage incidents redeliver`, as incident events do)."""
    from storage.drill import drill_subject

    _incident_store(ctx).announce("salvage.drill.completed", "completed", drill_subject(result))


@drill_app.command("history")
def drill_history_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every drill recorded, oldest first: verdict, items, RTO, RPO, report."""
    from storage.drill import drill_history

    rows = drill_history(_home(ctx))
    if as_json:
        _print_json(rows)
        return
    table = Table("drill", "finished", "verdict", "items", "byte-exact", "RTO s", "report")
    for r in rows:
        table.add_row(r["id"], r["finished_at"], r["verdict"], str(r["items"]), str(r["passed"]),
                      f"{r['rto_s']:.1f}" if r["rto_s"] is not None else "",
                      r["report_html"] or "")
    out.print(table)


# -- incidents ------------------------------------------------------------------------------------

incidents_app = typer.Typer(help="Data-gap incidents: list them (--open, --json), acknowledge, "
                            "resolve, redeliver what a sink missed.")
app.add_typer(incidents_app, name="incidents")
IncidentArg = Annotated[str, typer.Argument(help="The incident's id (INC-…) or key (gap:…).")]


def _incident_store(ctx: typer.Context) -> Any:
    from storage.incidents import IncidentStore

    home = _home(ctx)
    config: Config = ctx.obj.config
    if any(s.kind == "prefect" for s in config.incidents.sinks):
        _use_home_prefect(home)
        import flows.publish  # noqa: F401 -- registers the prefect sink
    return IncidentStore(home, config.incident_settings())


def _incident_done(incident: Any, report: Any, as_json: bool, what: str) -> None:
    if as_json:
        _print_json({"incident": incident.as_dict(), "delivery": report.as_dict()})
    else:
        out.print(f"{incident.id} {what} ({incident.status}): {incident.subject}", markup=False,
                  highlight=False)
    _dead_lettered(report)


def _dead_lettered(report: Any) -> None:
    for d in report.dead_lettered:
        err.print(f"[yellow]not delivered[/] {d['event_id']} to {escape(d['sink'])}: "
                  f"{escape(d['error'])}", soft_wrap=True)
    if report.dead_lettered:
        err.print("kept in incidents/dead-letter.jsonl: `salvage incidents redeliver` sends them")


@incidents_app.callback(invoke_without_command=True)
def incidents_list(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only incidents not resolved.")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Every incident, newest first: id, status, severity, type, subject, key."""
    if ctx.invoked_subcommand is not None:
        return
    found = _incident_store(ctx).incidents(open_only=open_only)
    if as_json:
        _print_json([i.as_dict() for i in found])
        return
    table = Table("status", "severity", "type", "subject", "detected", "key")
    table.columns.insert(0, Column("id", no_wrap=True))
    for i in found:
        table.add_row(i.id, i.status + (" (acked)" if i.acknowledged_at and i.is_open else ""),
                      i.severity, i.type, escape(i.subject), i.detected_at.isoformat()[:19],
                      escape(i.key))
    if found:
        out.print(table)
    else:
        out.print("no open incidents" if open_only else "no incidents")


@incidents_app.command("show")
def incidents_show(ctx: typer.Context, incident: IncidentArg, as_json: JsonOpt = False) -> None:
    """One incident: its timeline and evidence."""
    found = _incident_store(ctx).get(incident)
    if as_json:
        _print_json(found.as_dict())
        return
    data = found.as_dict()
    out.print(f"{found.id} {found.status} {found.severity} {found.type}\n{found.subject}\n"
              f"key {found.key}\nwindow {data['window']['start']} .. {data['window']['end']}",
              markup=False, highlight=False)
    for e in found.timeline:
        out.print(f"  {e.as_dict()['at']}  {e.event:<13} {e.note or ''}", markup=False,
                  highlight=False)
    out.print(json.dumps(found.evidence, indent=2), markup=False, highlight=False)


@incidents_app.command("ack")
def incidents_ack(
    ctx: typer.Context,
    incident: IncidentArg,
    note: Annotated[str | None, typer.Option("--note", help="Who is on it, what next.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge an incident (its status stays); the sinks are told at once."""
    store = _incident_store(ctx)
    found = store.acknowledge(incident, note)
    _incident_done(found, store.deliver_pending(), as_json, "acknowledged")


@incidents_app.command("resolve")
def incidents_resolve(
    ctx: typer.Context,
    incident: IncidentArg,
    note: Annotated[str, typer.Option("--note", help="Why: what was done, or why the gap is "
                                                     "accepted.")],
    as_json: JsonOpt = False,
) -> None:
    """Resolve an incident by hand; the sinks are told at once (PagerDuty: resolve)."""
    store = _incident_store(ctx)
    found = store.resolve(incident, note)
    _incident_done(found, store.deliver_pending(), as_json, "resolved")


@incidents_app.command("redeliver")
def incidents_redeliver(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Send again every incident event whose delivery failed (incidents/dead-letter.jsonl)."""
    report = _incident_store(ctx).redeliver()
    if as_json:
        _print_json(report.as_dict())
    else:
        out.print(f"{len(report.delivered)} delivered, {len(report.skipped)} skipped, "
                  f"{len(report.dead_lettered)} still failing")
    _dead_lettered(report)
    if not report.ok:
        raise typer.Exit(1)


# -- demo -----------------------------------------------------------------------------------------


@app.command()
def demo(
    ctx: typer.Context,
    fresh: Annotated[bool, typer.Option("--fresh", help="Empty a demo home first.")] = False,
) -> None:
    """Capture the bundled sample pages from a local mirror, look one up, verify, export."""
    from flows.demo import run_demo

    run_demo(ctx.obj.home.root, fresh=fresh, console=out)


# -- config ---------------------------------------------------------------------------------------

config_app = typer.Typer(no_args_is_help=True, help="The configuration (see salvage.toml).")
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print the effective configuration: defaults, salvage.toml, SALVAGE_* variables and --home
    merged, each value with where it came from; secrets masked."""
    config: Config = ctx.obj.config
    if as_json:
        _print_json(config.report())
    else:
        sys.stdout.write(config.to_toml())


def main() -> None:
    """Entry point: exit 0 on success, 1 on any failure (usage errors included)."""
    # SIGTERM exits through Python, so open WARC files are closed by the writer's atexit hook
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        code = app(standalone_mode=False)
    except (click.exceptions.Exit, typer.Exit) as exc:
        sys.exit(1 if exc.exit_code else 0)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(1)
    except (click.ClickException, typer.TyperException) as exc:  # typer vendors its own click
        exc.show()
        sys.exit(1)
    except SalvageError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)  # messages hold [section]s
        sys.exit(1)
    sys.exit(1 if isinstance(code, int) and code else 0)
