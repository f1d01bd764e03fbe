"""Serving speed: our API vs `mlflow models serve`, and batch scoring vs bare predict_proba.

Both servers load the same saved MLflow model (skops, predict_proba as its pyfunc method),
run as one uvicorn process each with OMP_NUM_THREADS=1, on loopback, and are driven by the
same load generator: a small asyncio client holding `CONCURRENCY` keep-alive connections, each
sending one single-record request after another for a fixed time (bounded in time and count).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from common import BIN, ROOT, Result, env

CONCURRENCY = 8
SECONDS = {"small": 8.0, "1m": 15.0, "10m": 20.0}
BATCH_ROWS = {"small": 200_000, "1m": 1_000_000, "10m": 10_000_000}
MAX_REQUESTS = 200_000


@dataclass(frozen=True)
class Load:
    """What one load run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _client(
    port: int,
    path: bytes,
    bodies: list[bytes],
    stop_at: float,
    out: list[float],
    codes: Counter[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.perf_counter() < stop_at and len(out) < MAX_REQUESTS:
            body = bodies[i % len(bodies)]
            i += 1
            head = (
                b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
            )
            start = time.perf_counter()
            writer.write(head + body)
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            length = next(
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            )
            await reader.readexactly(length)
            out.append(time.perf_counter() - start)
            codes[int(lines[0].split()[1])] += 1
    finally:
        writer.close()


def drive(
    port: int, path: str, bodies: list[bytes], seconds: float, concurrency: int = CONCURRENCY
) -> Load:
    """Send single-record requests over `concurrency` connections for `seconds`."""

    async def main() -> tuple[list[float], Counter[int], float]:
        latencies: list[float] = []
        codes: Counter[int] = Counter()
        start = time.perf_counter()
        stop_at = start + seconds
        await asyncio.gather(
            *(
                _client(port, path.encode(), bodies[k::concurrency], stop_at, latencies, codes)
                for k in range(concurrency)
            )
        )
        return latencies, codes, time.perf_counter() - start

    latencies, codes, elapsed = asyncio.run(main())
    ms = np.array(latencies) * 1000
    return Load(
        len(ms), elapsed, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), dict(codes)
    )


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _server(cmd: list[str], ready: str, cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**env(), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(ready, proc)
    except BaseException:
        proc.kill()
        raise
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def build_model(work: Path) -> tuple[Any, Any, pd.DataFrame, Path]:
    """Fit the default model and save it as an MLflow model directory with its schema."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from threadpoolctl import threadpool_limits

    from gitops_ml.core.dataset import prepare
    from gitops_ml.core.params import load_params
    from gitops_ml.infra.model_files import save_model, trusted_names
    from gitops_ml.infra.tables import read_table
    from gitops_ml.infra.tracking import SCHEMA_METADATA
    from gitops_ml.pipeline.train import fit

    params = load_params(ROOT / "params.yaml")
    train_frame, test_frame, schema = prepare(
        read_table(ROOT / params.data.raw), params.data, params.seed
    )
    with threadpool_limits(limits=1):
        pipeline = fit(train_frame, schema, params.train, params.seed)
    skops_file = work / "model.skops"
    save_model(pipeline, skops_file)
    x = test_frame[schema.features]
    model_dir = work / "mlflow-model"
    mlflow.sklearn.save_model(
        pipeline,
        str(model_dir),
        serialization_format="skops",
        skops_trusted_types=trusted_names(),
        signature=infer_signature(x.head(5), pipeline.predict_proba(x.head(5))),
        metadata={SCHEMA_METADATA: json.loads(schema.to_json())},
        pyfunc_predict_fn="predict_proba",
    )
    return pipeline, schema, test_frame, model_dir


def _records(test: pd.DataFrame, schema: Any, n: int = 256) -> list[dict[str, Any]]:
    frame = test[schema.features].head(n).astype(object)
    frame = frame.where(frame.notna(), None)
    return [dict(zip(schema.features, row, strict=True)) for row in frame.itertuples(index=False)]


def _ours(work: Path, model_dir: Path, port: int, engine: str) -> subprocess.Popen[bytes]:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["serve"]["engine"] = engine
    params_path = work / f"params-{engine}.yaml"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    cmd = [str(BIN / "gitops-ml"), "serve", "--model", str(model_dir), "--port", str(port)]
    return _server([*cmd, "--params", str(params_path)], f"http://127.0.0.1:{port}/ready", work)


def _engine(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metadata", timeout=5) as response:
        return str(json.load(response)["scoring"]["engine"])


def bench_servers(
    work: Path, schema: Any, test: pd.DataFrame, model_dir: Path, size: str
) -> list[Result]:
    """Throughput and latency of our server (compiled path and scikit-learn fallback) and of
    `mlflow models serve`, under the same load, interleaved."""
    records = _records(test, schema)
    ours_bodies = [json.dumps(r).encode() for r in records]
    mlflow_bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in records]
    seconds = SECONDS.get(size, 8.0)
    ports = {"ours": _free_port(), "fallback": _free_port(), "mlflow": _free_port()}
    paths = {"ours": "/predict", "fallback": "/predict", "mlflow": "/invocations"}
    bodies = {"ours": ours_bodies, "fallback": ours_bodies, "mlflow": mlflow_bodies}
    servers = {
        "ours": _ours(work, model_dir, ports["ours"], "auto"),
        "fallback": _ours(work, model_dir, ports["fallback"], "sklearn"),
    }
    try:
        servers["mlflow"] = _server(
            [
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                str(model_dir),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(ports["mlflow"]),
                "-w",
                "1",
            ],
            f"http://127.0.0.1:{ports['mlflow']}/ping",
            work,
        )
        engines = {name: _engine(ports[name]) for name in ("ours", "fallback")}
        for name in servers:  # warm up every server
            drive(ports[name], paths[name], bodies[name], 1.5)
        # Two interleaved rounds; each server's better round counts (the machine is shared).
        rounds: dict[str, list[Load]] = {name: [] for name in servers}
        lone: dict[str, list[Load]] = {name: [] for name in servers}
        for _ in range(2):
            for name in servers:
                rounds[name].append(drive(ports[name], paths[name], bodies[name], seconds))
            # One client at a time: the time a request takes.
            for name in servers:
                lone[name].append(drive(ports[name], paths[name], bodies[name], seconds / 2, 1))
    finally:
        for proc in servers.values():
            _stop(proc)
    best = {name: max(loads, key=lambda load: load.rps) for name, loads in rounds.items()}
    alone = {name: min(loads, key=lambda load: load.p99_ms) for name, loads in lone.items()}
    a, f, b = best["ours"], best["fallback"], best["mlflow"]
    ok_a = set(a.statuses) == {200} and engines["ours"] == "onnxruntime"
    ratio, fallback_ratio = a.rps / b.rps, f.rps / b.rps
    note = (
        f"Serving: {CONCURRENCY} keep-alive connections, single-record requests, {seconds:g} s "
        f"per round, best of 2 interleaved rounds; statuses ours {a.statuses}, fallback "
        f"{f.statuses}, mlflow {b.statuses}. Every server: one uvicorn worker, "
        "OMP_NUM_THREADS=1, the same MLflow model. Ours serves on the path its /metadata names "
        f"({engines['ours']}); the fallback is the same server with serve.engine: sklearn "
        f"({engines['fallback']})."
    )
    lone_ok = set(alone["ours"].statuses) == {200} and engines["ours"] == "onnxruntime"
    return [
        Result(
            "serve: /predict throughput, compiled path (ours)", f"{a.rps:,.0f} req/s", note=note
        ),
        Result("serve: /predict throughput, scikit-learn fallback (ours)", f"{f.rps:,.0f} req/s"),
        Result(
            "serve: /invocations throughput (mlflow models serve)",
            f"{b.rps:,.0f} req/s",
        ),
        Result(
            "serve: throughput ours / mlflow (compiled; fallback)",
            f"{ratio:.1f}×; {fallback_ratio:.1f}×",
            "≥ 40× (compiled)",
            ratio >= 40 and ok_a,
        ),
        Result(
            "serve: latency p50 / p99, one client, compiled path (ours)",
            f"{alone['ours'].p50_ms:.2f} / {alone['ours'].p99_ms:.2f} ms",
            "≤ 1.5 / ≤ 3 ms",
            alone["ours"].p50_ms <= 1.5 and alone["ours"].p99_ms <= 3 and lone_ok,
            note=(
                "Latency: one client sending one request after another measures the time a "
                f"request takes ({seconds / 2:g} s per round, the better of 2 interleaved rounds "
                "by p99); under the saturating load above it is mostly queueing and grows "
                "with the number of connections chosen, so it is shown without a target."
            ),
        ),
        Result(
            "serve: latency p50 / p99, one client, scikit-learn fallback (ours)",
            f"{alone['fallback'].p50_ms:.2f} / {alone['fallback'].p99_ms:.2f} ms",
        ),
        Result(
            "serve: latency p50 / p99, one client (mlflow)",
            f"{alone['mlflow'].p50_ms:.1f} / {alone['mlflow'].p99_ms:.1f} ms",
        ),
        Result(
            f"serve: latency p50 / p99 at {CONCURRENCY} connections (compiled / fallback / mlflow)",
            f"{a.p50_ms:.1f} / {a.p99_ms:.1f} ms, {f.p50_ms:.1f} / {f.p99_ms:.1f} ms, "
            f"{b.p50_ms:.1f} / {b.p99_ms:.1f} ms",
        ),
    ]


def bench_batch(work: Path, pipeline: Any, schema: Any, model_dir: Path, size: str) -> list[Result]:
    """Rows per second of `gitops-ml predict` vs reading the file and calling predict_proba."""
    from gitops_ml.infra import model_source
    from gitops_ml.serving import batch, scoring

    raw = pd.read_csv(ROOT / "data" / "raw" / "telco_churn.csv")
    rows = BATCH_ROWS.get(size, 200_000)
    frame = raw.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
    frame.insert(0, "row_id", np.arange(rows))
    source = work / "batch.parquet"
    frame.drop(columns=["churn"]).to_parquet(source, index=False)
    del frame, raw

    def bare() -> float:
        start = time.perf_counter()
        x = pd.read_parquet(source, columns=schema.features)
        pipeline.predict_proba(x)
        return time.perf_counter() - start

    # Both sides hold the model in memory: loading it is a once-per-run cost, not throughput.
    model = model_source.load(
        model_source.resolve(str(model_dir)), schema_path=work / "unused.json"
    )
    scorers = {
        "ours": scoring.choose(model, 0.5),  # what `gitops-ml predict` picks
        "fallback": scoring.choose(model, 0.5, engine="sklearn"),
    }

    def ours(path: str = "ours") -> float:
        start = time.perf_counter()
        batch.score_file(
            model,
            source,
            work / "scores.parquet",
            kind="parquet",
            threshold=0.5,
            id_column="row_id",
            chunk_rows=50_000,
            scorer=scorers[path],
        )
        return time.perf_counter() - start

    from threadpoolctl import threadpool_limits

    # Single-threaded on both sides: on a shared machine OpenMP threads make both sides' times
    # swing far more than the difference being measured.
    times = {"bare": float("inf"), "ours": float("inf"), "fallback": float("inf")}
    with threadpool_limits(limits=1):
        for _ in range(3):
            times["bare"] = min(times["bare"], bare())
            times["ours"] = min(times["ours"], ours("ours"))
            times["fallback"] = min(times["fallback"], ours("fallback"))
    share = times["bare"] / times["ours"]
    compiled = scorers["ours"].engine == "onnxruntime"
    return [
        Result(
            "batch: predict rows/s, compiled path (ours: chunked, validated, written)",
            f"{rows / times['ours']:,.0f}",
        ),
        Result(
            "batch: predict rows/s, scikit-learn fallback (ours)",
            f"{rows / times['fallback']:,.0f}",
        ),
        Result("batch: bare read_parquet + predict_proba rows/s", f"{rows / times['bare']:,.0f}"),
        Result(
            "batch: ours / bare (compiled; fallback)",
            f"{share:.0%}; {times['bare'] / times['fallback']:.0%}",
            "≥ 300 % (compiled)",
            share >= 3.0 and compiled,
            note=(
                f"Batch: {rows:,} rows of Parquet, best of 3 interleaved runs each, same model in "
                "memory, one thread each. "
                "Ours reads 50,000-row chunks, validates, scores, writes Parquet with the id; "
                "bare reads the whole file and calls predict_proba."
            ),
        ),
    ]


def run(size: str) -> list[Result]:
    """All serving benchmarks on one model."""
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        pipeline, schema, test, model_dir = build_model(work)
        results = bench_servers(work, schema, test, model_dir, size)
        results += bench_batch(work, pipeline, schema, model_dir, size)
        return results
