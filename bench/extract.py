"""Extract benchmark (issue 11): a cosphere download request against bare DuckDB and pandas.

Run from the repository root with the project's venv:

    .venv/bin/python bench/extract.py [--rows 10000000] [--repeat 3] [--keep] [--work-dir DIR]

A generated Parquet file (`--rows` rows; cached in the work folder between runs) is a
catalogue item of a real `filedock serve`. Each round asks for the same extract (two
filters, three columns, a 0.1 sample, CSV) through `POST /downloader/requests/`, polls it to
`done`, downloads its `uri`, then leaves it (DELETE, which cancels it) so that the next
round's identical request is a new one running the identical query. In the same round, in
fresh processes: the bare DuckDB `COPY` of the very query the server runs (same memory limit
and threads), and pandas (`read_parquet` of the needed columns, filter, sample, `to_csv`).
The table shows medians. A missed target prints MISS; the exit status stays 0 unless the
bench itself failed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import operator
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from processes import RssSampler, proc_kb, process_tree, stop
from transfer import MB, curl, free_port, http_status, wait_until, warm

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PRODUCTS = ["apple", "bread", "cake", "dates", "eggs", "figs", "grapes", "honey"]
COLUMNS = {  # name: (catalogue type, how the generator makes it from `range`)
    "id": ("INTEGER", "range"),
    "product": (
        "STRING",
        f"{PRODUCTS}[1 + (hash(range) % {len(PRODUCTS)})::INTEGER]".replace('"', "'"),
    ),
    "price": ("INTEGER", "(hash(range, 1) % 1000)::INTEGER"),
    "weight": ("FLOAT", "round((hash(range, 2) % 100000) / 100.0, 2)::DOUBLE"),
    "available": ("BOOLEAN", "hash(range, 3) % 2 = 0"),
    "seen_at": ("TIMESTAMP", "TIMESTAMP '2024-01-01' + to_seconds((range * 37)::BIGINT)"),
}
# The request: two filters, three columns, a 0.1 sample, CSV.
SPEC: dict[str, Any] = {
    "columns": ["id", "product", "weight"],
    "filters": [
        {"name": "price", "operator": "<", "value": 500},
        {"name": "available", "operator": "=", "value": True},
    ],
    "randomize_ratio": 0.1,
    "format": "csv",
}
PANDAS_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


# The references, each run in a fresh process (`--reference`) ------------------------------


def reference_duckdb(args: argparse.Namespace) -> dict[str, Any]:
    """The server's query as a bare `COPY`, with the server's memory limit and threads."""
    import duckdb

    select = Path(args.query_file).read_text()
    start = time.perf_counter()
    connection = duckdb.connect()
    connection.execute(f"SET memory_limit = '{args.memory_limit}'")
    if args.threads:
        connection.execute(f"SET threads = {int(args.threads)}")
    connection.execute(f"SET temp_directory = '{args.scratch}'")
    row = connection.execute(f"COPY ({select}) TO '{args.out}' (FORMAT csv, HEADER)").fetchone()
    connection.close()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": int(row[0]) if row else 0}


def reference_pandas(args: argparse.Namespace) -> dict[str, Any]:
    """read_parquet (the needed columns only), filter, sample, to_csv."""
    import pandas as pd

    spec = json.loads(args.spec)
    needed = list(dict.fromkeys([*spec["columns"], *(f["name"] for f in spec["filters"])]))
    start = time.perf_counter()
    frame = pd.read_parquet(args.parquet, columns=needed)
    keep = None
    for f in spec["filters"]:
        test = PANDAS_OPERATORS[f["operator"]](frame[f["name"]], f["value"])
        keep = test if keep is None else keep & test
    chosen = frame[keep] if keep is not None else frame
    sample = chosen.sample(frac=spec["randomize_ratio"], random_state=args.random_state)
    sample[spec["columns"]].to_csv(args.out, index=False)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(sample), "columns_read": len(needed)}


def run_reference(kind: str, extra: list[str]) -> dict[str, Any]:
    """Run one reference in a fresh interpreter; its JSON answer plus its peak RSS (VmHWM)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--reference", kind, *extra]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} reference exited {done.returncode}:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# Data, server, requests --------------------------------------------------------------------


def ensure_dataset(path: Path, rows: int) -> None:
    """Generate the Parquet file with DuckDB unless a file of `rows` rows is already there."""
    import duckdb
    import pyarrow.parquet as pq

    if path.exists():
        with contextlib.suppress(Exception):
            if pq.ParquetFile(path).metadata.num_rows == rows:
                return
    print(f"generating {rows:,} rows into {path}", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    select = ", ".join(f"{how} AS {name}" for name, (_type, how) in COLUMNS.items())
    start = time.perf_counter()
    with duckdb.connect() as connection:
        connection.execute(
            f"COPY (SELECT {select} FROM range({int(rows)})) TO '{partial}' (FORMAT parquet)"
        )
    partial.rename(path)
    print(f"  {time.perf_counter() - start:.1f} s, {path.stat().st_size / MB:.0f} MB", flush=True)


def server_env(work: Path, datasets: Path, port: int, args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    env.update(
        FILEDOCK_DATA_DIR=str(work / "data"),
        FILEDOCK_JWT_SECRET=secrets.token_urlsafe(32),
        FILEDOCK_PUBLIC_URL=f"http://{HOST}:{port}",
        FILEDOCK_JOB_POLL_SECONDS="0.2",
        FILEDOCK_CATALOGUE_DATA_ROOTS=str(datasets),
        FILEDOCK_RATE_LIMIT_PER_SECOND="0",  # the bench polls; no limiter test here
        FILEDOCK_SWEEP_SECONDS="3600",
        FILEDOCK_EXTRACT_SCRATCH_DIR=str(work / "scratch"),
        FILEDOCK_DUCKDB_MEMORY_LIMIT=args.memory_limit,
    )
    if args.threads:
        env["FILEDOCK_DUCKDB_THREADS"] = str(args.threads)
    return env


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path, port: int) -> Iterator[int]:
    """`filedock serve` until /healthz answers 200; yields its pid, stops it (by pid) after."""
    command = [sys.executable, "-m", "filedock", "serve", "--port", str(port)]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=out, env=env)
        descendants: list[int] = []
        try:

            def healthy() -> bool:
                if server.poll() is not None:
                    raise RuntimeError(f"filedock exited:\n{log.read_text()[-3000:]}")
                return http_status(f"http://{HOST}:{port}/healthz") == 200

            wait_until(healthy, 60, "filedock /healthz")
            descendants = process_tree(server.pid)[1:]
            yield server.pid
        finally:
            stop(server, descendants)


def filedock_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "filedock", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"filedock {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def answer(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"HTTP {response.status_code} {response.text[:500]}"
        )
    return dict(response.json())


@dataclass
class Round:
    """One request, API call to `done`, with the moments the poll first saw each change."""

    total: float = 0.0  # POST sent -> `done` seen
    running: float = 0.0  # -> `running` seen (the job was taken)
    estimated: float = 0.0  # -> `estimated_size` seen (the job's estimate is over)
    exporting: float = 0.0  # -> `executor_job_id` seen (the export has started)
    polls: int = 0
    body: dict[str, Any] = field(default_factory=dict)


def request_round(client: httpx.Client, item_id: int, poll: float) -> Round:
    seen = Round()
    start = time.perf_counter()
    created = answer(
        client.post("/downloader/requests/", json={"catalogue_item_id": item_id, "spec": SPEC}),
        201,
    )
    while True:
        body = answer(client.get(f"/downloader/requests/{created['id']}"), 200)
        now = time.perf_counter() - start
        seen.polls += 1
        if body["status"] != "pending" and not seen.running:
            seen.running = now
        if body["estimated_size"] is not None and not seen.estimated:
            seen.estimated = now
        if body["executor_job_id"] is not None and not seen.exporting:
            seen.exporting = now
        if body["status"] == "done":
            seen.total, seen.body = now, body
            # Without FILEDOCK_EXTRACT_ESTIMATE_FIRST the job makes no estimate: none to time.
            seen.estimated = seen.estimated or seen.running
            return seen
        if body["status"] in ("failed", "cancelled"):
            raise RuntimeError(f"request {created['id']} {body['status']}: {body['failure']}")
        if now > 1800:
            raise RuntimeError(f"request {created['id']} still {body['status']} after 30 min")
        time.sleep(poll)


def count_csv_rows(path: Path) -> int:
    """Data rows of a CSV with a header (no value here holds a line break)."""
    lines = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines - 1


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def bare_query(parquet: Path, item_id: int, account_id: int) -> tuple[str, str, str]:
    """The query the server's job runs for SPEC, its seed, and the same query sampling with
    `random()` instead of the md5 rule (what the md5 costs), built by filedock's own code."""
    sys.path.insert(0, str(ROOT / "src"))
    from filedock.core.download_model import NewDownloadRequest
    from filedock.core.extract_spec import dedupe_key, parse_spec, render_spec
    from filedock.ports.extract_sql import extract_sql, local_files_source

    item_columns: Any = [{"name": n, "type": t} for n, (t, _how) in COLUMNS.items()]
    spec = parse_spec(SPEC, item_columns)
    seed = NewDownloadRequest(
        item_id, account_id, render_spec(spec), dedupe_key(item_id, spec)
    ).seed
    # The job reads the location resolved (dataset_files.py): the same text here.
    source = local_files_source([parquet.resolve()])
    unsampled = dataclasses.replace(spec, randomize_ratio=1)
    plain = extract_sql(unsampled, source, "duckdb", seed=seed, key_columns=())
    random_sample = f"SELECT * FROM ({plain}) WHERE random() < {spec.randomize_ratio!r}"
    return extract_sql(spec, source, "duckdb", seed=seed, key_columns=()), seed, random_sample


# The run ------------------------------------------------------------------------------------


@dataclass
class Results:
    duckdb: list[dict[str, Any]] = field(default_factory=list)
    duckdb_random: list[dict[str, Any]] = field(default_factory=list)
    pandas: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    estimate: list[float] = field(default_factory=list)
    estimated_sizes: list[int] = field(default_factory=list)  # the endpoint's answers
    download: list[float] = field(default_factory=list)
    server_rows: list[int] = field(default_factory=list)
    identical: list[bool] = field(default_factory=list)
    peaks: dict[str, int] = field(default_factory=dict)
    hwm: int = 0
    seed: str = ""


def measure(work: Path, parquet: Path, args: argparse.Namespace) -> Results:
    results = Results()
    port = free_port()
    env = server_env(work, parquet.parent, port, args)
    poll = args.poll_ms / 1000
    with serving(env, work / "filedock.log", port) as pid:
        email = "bench-admin@example.org"
        account_id = int(
            filedock_cli(env, "account", "create", "--email", email, "--type", "ADMIN")
        )
        token = filedock_cli(env, "account", "token", "--email", email)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://{HOST}:{port}", headers=headers, timeout=600) as client:
            spec = [
                {"name": n, "type": t, "is_nullable": False, "size": None, "distribution": None}
                for n, (t, _how) in COLUMNS.items()
            ]
            item = answer(
                client.post(
                    "/catalogue/items/",
                    json={
                        "name": "bench shop",
                        "executor_type": "DUCKDB",
                        "spec": spec,
                        "sample": [],
                        "location": str(parquet),
                    },
                ),
                201,
            )
            select, results.seed, random_sample = bare_query(parquet, int(item["id"]), account_id)
            (work / "query.sql").write_text(select)
            (work / "random.sql").write_text(random_sample)
            common = ["--memory-limit", args.memory_limit, "--threads", str(args.threads or 0)]
            bare_csv, pandas_csv, server_csv = (
                work / "bare.csv",
                work / "pandas.csv",
                work / "server.csv",
            )
            sampler = RssSampler(pid)
            sampler.start()
            time.sleep(0.3)
            for n in range(args.repeat):
                warm(parquet)
                results.duckdb.append(
                    run_reference(
                        "duckdb",
                        [
                            *common,
                            "--query-file",
                            str(work / "query.sql"),
                            "--out",
                            str(bare_csv),
                            "--scratch",
                            str(work / "scratch" / "bare-spill"),
                        ],
                    )
                )
                warm(parquet)
                results.duckdb_random.append(
                    run_reference(
                        "duckdb",
                        [
                            *common,
                            "--query-file",
                            str(work / "random.sql"),
                            "--out",
                            str(work / "random.csv"),
                            "--scratch",
                            str(work / "scratch" / "bare-spill"),
                        ],
                    )
                )
                warm(parquet)
                results.pandas.append(
                    run_reference(
                        "pandas",
                        [
                            "--parquet",
                            str(parquet),
                            "--spec",
                            json.dumps(SPEC),
                            "--random-state",
                            str(int(results.seed, 16) % 2**32),
                            "--out",
                            str(pandas_csv),
                        ],
                    )
                )
                warm(parquet)
                sampler.phase = "request"
                done = request_round(client, int(item["id"]), poll)
                results.rounds.append(done)
                sampler.phase = "download"
                results.download.append(curl(["-o", str(server_csv), done.body["uri"]]))
                sampler.phase = "idle"
                results.server_rows.append(count_csv_rows(server_csv))
                results.identical.append(sha256(server_csv) == sha256(bare_csv))
                # Leaving cancels it: the next identical request is a new one.
                answer(client.delete(f"/downloader/requests/{done.body['id']}"), 200)
                time.sleep(1.0)  # the clear job (deletes the result File) runs now, not later
                warm(parquet)
                sampler.phase = "estimate endpoint"
                start = time.perf_counter()
                estimated = answer(
                    client.post(
                        "/downloader/requests/estimate/",
                        json={"catalogue_item_id": int(item["id"]), "spec": SPEC},
                    ),
                    200,
                )
                results.estimate.append(time.perf_counter() - start)
                results.estimated_sizes.append(int(estimated["estimated_size"]))
                sampler.phase = "idle"
                d, p = results.duckdb[-1], results.pandas[-1]
                print(
                    f"  run {n + 1}: bare DuckDB {d['seconds']:.2f} s ({d['rows']:,} rows), "
                    f"pandas {p['seconds']:.2f} s, filedock API->done {done.total:.2f} s "
                    f"(running {done.running:.2f}, estimated {done.estimated:.2f}, export "
                    f"started {done.exporting:.2f}; {results.server_rows[-1]:,} rows, "
                    f"real_size {done.body['real_size']:,}, estimated_size "
                    f"{done.body['estimated_size']}), download {results.download[-1]:.2f} s, "
                    f"estimate endpoint {results.estimate[-1]:.2f} s "
                    f"({estimated['estimated_size']:,} B)",
                    flush=True,
                )
            sampler.stopping.set()
            sampler.join()
            results.peaks = sampler.peaks
            results.hwm = sum(proc_kb(f"/proc/{p}/status", "VmHWM") for p in process_tree(pid))
    return results


def report(results: Results, parquet: Path, args: argparse.Namespace) -> None:
    def line(name: str, value: str, spread: str, ratio: str, target: str, result: str) -> None:
        print(f"{name:<44} {value:>10} {spread:>13} {ratio:>17}  {target:<10} {result}".rstrip())

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS  <<<"

    def seconds(values: list[float]) -> tuple[float, str, str]:
        median = statistics.median(values)
        return median, f"{median:.2f} s", f"{min(values):.2f}-{max(values):.2f}"

    mem = proc_kb("/proc/meminfo", "MemTotal")
    cpu = next(
        (
            entry.split(":", 1)[1].strip()
            for entry in Path("/proc/cpuinfo").read_text().splitlines()
            if entry.startswith("model name")
        ),
        platform.processor() or "?",
    )
    print(
        f"\nmachine: {cpu}, nproc={os.cpu_count()}, RAM {mem / 2**30:.1f} GiB, "
        f"{platform.machine()}, Linux {platform.release()}, Python {platform.python_version()}, "
        f"duckdb {metadata.version('duckdb')}, pyarrow {metadata.version('pyarrow')}, "
        f"pandas {metadata.version('pandas')}"
    )
    rows = results.duckdb[0]["rows"]
    threads = args.threads or f"DuckDB's default ({os.cpu_count()})"
    print(
        f"data: {args.rows:,} rows, {parquet.stat().st_size / MB:.0f} MB Parquet; request: "
        f"columns {SPEC['columns']}, filters price < 500 and available = true, ratio "
        f"{SPEC['randomize_ratio']}, CSV ({rows:,} rows); DuckDB memory_limit "
        f"{args.memory_limit}, threads {threads}; median of {args.repeat} runs, each on a warm "
        "page cache\n"
    )
    line("operation", "median", "min-max", "ratio", "target", "result")
    bare, bare_text, bare_spread = seconds([r["seconds"] for r in results.duckdb])
    line("bare DuckDB COPY ... TO csv (reference)", bare_text, bare_spread, "", "", "")
    _, text, spread = seconds([r["seconds"] for r in results.duckdb_random])
    line("  same, random() sample instead of md5", text, spread, "", "", "info")
    columns = results.pandas[0]["columns_read"]
    pandas, pandas_text, pandas_spread = seconds([r["seconds"] for r in results.pandas])
    line(
        f"pandas, {columns} of {len(COLUMNS)} columns (reference)",
        pandas_text,
        pandas_spread,
        "",
        "",
        "",
    )
    rounds = results.rounds
    total, total_text, total_spread = seconds([r.total for r in rounds])
    line(
        "filedock request, API call -> done",
        total_text,
        total_spread,
        f"{total / bare:.2f}x DuckDB",
        "<= 1.30x",
        verdict(total / bare <= 1.3),
    )
    line(
        "  same, against pandas",
        "",
        "",
        f"{pandas / total:.1f}x faster",
        ">= 5x",
        verdict(pandas / total >= 5),
    )
    _, text, spread = seconds([r.running for r in rounds])
    line("  of which: queued, until the job runs", text, spread, "", "", "info")
    _, text, spread = seconds([r.estimated - r.running for r in rounds])
    line("  of which: the job's size estimate", text, spread, "", "", "info")
    _, text, spread = seconds([r.total - r.estimated for r in rounds])
    line("  of which: export, store, process", text, spread, "", "", "info")
    _, text, spread = seconds(results.estimate)
    line("POST /downloader/requests/estimate/", text, spread, "", "", "info")
    download, text, spread = seconds(results.download)
    size = rounds[0].body["real_size"]
    line(
        f"download of uri ({size / MB:.1f} MB, curl)",
        text,
        spread,
        f"{size / download / MB:.0f} MB/s",
        "",
        "info",
    )
    same = all(n == rows for n in results.server_rows) and all(
        r["rows"] == rows for r in results.duckdb
    )
    line(
        "rows: server CSV / bare DuckDB CSV",
        f"{results.server_rows[0]:,}",
        f"{rows:,}",
        "",
        "equal",
        verdict(same),
    )
    line(
        "  server CSV byte-identical to bare DuckDB's",
        "yes" if all(results.identical) else "no",
        "",
        "",
        "",
        "info",
    )
    peak = max(v for k, v in results.peaks.items() if k != "idle")
    line(
        "peak RSS, server process tree (sampled)",
        f"{peak / MB:.0f} MB",
        "",
        "",
        "< 1000 MB",
        verdict(peak < 1000 * MB),
    )
    print(
        "\npeak summed VmRSS by phase (every 50 ms): "
        + ", ".join(f"{phase} {value / MB:.0f} MB" for phase, value in results.peaks.items())
        + f"; server VmHWM at the end {results.hwm / MB:.0f} MB; references' VmHWM: DuckDB "
        f"{max(r['hwm'] for r in results.duckdb) / MB:.0f} MB, pandas "
        f"{max(r['hwm'] for r in results.pandas) / MB:.0f} MB"
    )
    estimated = results.estimated_sizes[0]
    print(
        f"estimate endpoint {estimated:,} B against real_size {size:,} B "
        f"({estimated / size - 1:+.1%}); times inside a request are when a poll (every "
        f"{args.poll_ms:g} ms, {statistics.median(r.polls for r in rounds):.0f} polls) first "
        "saw the change; the references' times run from connect()/read_parquet to the file "
        "written, not counting interpreter start and imports"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the dataset")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each")
    parser.add_argument("--work-dir", type=Path, default=Path(__file__).resolve().parent / ".work")
    parser.add_argument("--keep", action="store_true", help="keep the server's data and CSVs")
    parser.add_argument("--poll-ms", type=float, default=50.0, help="request status poll")
    parser.add_argument("--memory-limit", default="512MB", help="DuckDB's, server and bare")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB's; 0: its default")
    # The references run in their own processes: this same file, told which one to run.
    hidden = argparse.SUPPRESS
    parser.add_argument("--reference", choices=["duckdb", "pandas"], help=hidden)
    for name in ("--query-file", "--out", "--scratch", "--parquet", "--spec"):
        parser.add_argument(name, help=hidden)
    parser.add_argument("--random-state", type=int, default=0, help=hidden)
    args = parser.parse_args()
    if args.reference:
        run = reference_duckdb if args.reference == "duckdb" else reference_pandas
        result = run(args)
        result["hwm"] = proc_kb("/proc/self/status", "VmHWM")
        print(json.dumps(result))
        return
    args.repeat = max(1, args.repeat)
    base = args.work_dir.resolve() / "extract"
    parquet = base / "datasets" / f"shop-{args.rows}.parquet"
    ensure_dataset(parquet, args.rows)
    run_dir = base / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "scratch").mkdir(parents=True)
    try:
        results = measure(run_dir, parquet, args)
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    report(results, parquet, args)


if __name__ == "__main__":
    main()
