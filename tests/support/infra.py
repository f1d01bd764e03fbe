"""Fixtures of the shared-infrastructure tests: an S3-compatible server, PostgreSQL, and an
MLflow server that keeps its runs in PostgreSQL and its artifacts in the S3-compatible store.

Each is a real server process on loopback, started once per session and stopped after it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..conftest import BIN
from .serving import MlflowServer, free_port, process, start_mlflow_server

# moto accepts any credentials; these only have to be present and identical on both sides.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def without_aws(env: dict[str, str]) -> dict[str, str]:
    """`env` without AWS or MLflow-S3 settings: credentials only where a test puts them."""
    return {k: v for k, v in env.items() if not k.startswith(("AWS_", "MLFLOW_S3_"))}


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server (moto's standalone server) on loopback."""

    endpoint: str

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` with this server's credentials in the standard AWS variables."""
        return {**without_aws(env), **S3_CREDENTIALS}

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        )

    def bucket(self, name: str) -> str:
        """Create bucket `name` (once) and return its name."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets()["Buckets"]}
        if name not in existing:
            client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in `bucket` under `prefix`, sorted."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        """The bytes of one object."""
        body: bytes = self.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        return body


@contextmanager
def start_s3_server(home: Path, env: dict[str, str]) -> Iterator[S3Server]:
    """moto's standalone S3-compatible server on loopback until the block ends (log in `home`)."""
    port = free_port()
    cmd = [str(BIN / "python"), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    with process(cmd, home, without_aws(env), f"{endpoint}/moto-api/"):
        yield S3Server(endpoint)


@pytest.fixture(scope="session")
def s3_server(
    tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str]
) -> Iterator[S3Server]:
    """One S3-compatible server for the session; tests use buckets of their own."""
    with start_s3_server(tmp_path_factory.mktemp("s3"), tool_env) as server:
        yield server


# --- PostgreSQL --------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The directory of PostgreSQL's server programs (initdb, postgres), or None."""
    found = shutil.which("initdb")
    if found and (Path(found).parent / "postgres").exists():
        return Path(found).parent
    # Debian keeps them off PATH, one directory per major version.
    versions = [
        p.parent
        for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if p.parent.parent.name.isdigit() and (p.parent / "postgres").exists()
    ]
    return max(versions, key=lambda d: int(d.parent.name)) if versions else None


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL server on loopback with password-less (trust) access."""

    port: int
    user: str

    def uri(self, database: str) -> str:
        """SQLAlchemy URI of `database` (psycopg2: SQLAlchemy 2.1 defaults to psycopg 3)."""
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def query(self, database: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of one SQL query, read straight from the database."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def create_database(self, name: str) -> None:
        """CREATE DATABASE (it cannot run inside a transaction)."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()


def _server_account() -> dict[str, Any]:
    """Popen arguments that run PostgreSQL as an unprivileged user.

    PostgreSQL refuses to run as root (CI containers run as root): there it runs as the
    `postgres` system account that Debian's package creates.
    """
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` system user to run PostgreSQL as")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _wait_for_postgres(port: int, user: str, proc: subprocess.Popen[str], log: Path) -> None:
    import psycopg2

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"postgres exited with {proc.returncode}:\n{log.read_text()}")
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname="postgres").close()
            return
        except psycopg2.OperationalError:
            time.sleep(0.2)
    pytest.fail(f"postgres did not accept connections within 60 s:\n{log.read_text()}")


@contextmanager
def start_postgres(bindir: Path, home: Path) -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster on loopback until the block ends (its log in `home`).

    The cluster lives in a directory of its own under the system temp dir: pytest's temp tree
    is private to the user running the tests, which the server account may not be.
    """
    account = _server_account()
    user = "gitops"
    root = Path(tempfile.mkdtemp(prefix="gitops-ml-pg-"))
    log_path = home / "postgres.log"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(root), "LC_ALL": "C"}
    try:
        if account:
            os.chown(root, account["user"], account["group"])
        data = root / "data"
        # Settings for a disposable test cluster: trust on loopback, no fsync.
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust"]
        initdb += ["-E", "UTF8", "--no-locale", "--no-sync"]
        done = subprocess.run(
            initdb, cwd=root, env=env, capture_output=True, text=True, timeout=120, **account
        )
        if done.returncode != 0:
            pytest.fail(f"initdb exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        port = free_port()
        cmd = [str(bindir / "postgres"), "-D", str(data), "-k", str(root), "-p", str(port)]
        cmd += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, **account
            )
            try:
                _wait_for_postgres(port, user, proc, log_path)
                yield Postgres(port, user)
            finally:
                proc.send_signal(signal.SIGINT)  # "fast" shutdown: end sessions, then stop
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- MLflow on PostgreSQL with artifacts in S3 ------------------------------------------------


@dataclass(frozen=True)
class SharedTracking:
    """An MLflow server as a team would share it: runs in PostgreSQL, artifacts in S3."""

    server: MlflowServer
    postgres: Postgres
    database: str
    s3: S3Server
    bucket: str
    prefix: str


@pytest.fixture(scope="session")
def shared_tracking(
    tmp_path_factory: pytest.TempPathFactory, tool_env: dict[str, str], s3_server: S3Server
) -> Iterator[SharedTracking]:
    """The session's MLflow server on PostgreSQL (Debian's package) with artifacts in S3."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server programs (initdb, postgres) not found on PATH or under "
            "/usr/lib/postgresql/*/bin: install Debian's `postgresql` package (.ci/run does)"
        )
    home = tmp_path_factory.mktemp("shared-tracking")
    with start_postgres(bindir, home) as postgres:
        postgres.create_database("mlflow")
        bucket = s3_server.bucket("mlflow")
        # Only the server holds the object store's credentials: clients upload through it.
        env = {**s3_server.env(tool_env), "MLFLOW_S3_ENDPOINT_URL": s3_server.endpoint}
        with start_mlflow_server(
            home,
            env,
            backend_store_uri=postgres.uri("mlflow"),
            artifacts_destination=f"s3://{bucket}/artifacts",
        ) as server:
            yield SharedTracking(server, postgres, "mlflow", s3_server, bucket, "artifacts")
