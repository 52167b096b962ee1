"""deployments/backup/backup.sh and restore.sh, run for real with subprocess.

Local mode (``--local``, what ``make up`` keeps) does a full round trip on temporary var/ and mlflow/
directories (CARBON_NEXUS_VAR, CARBON_NEXUS_MLFLOW): a live SQLite database in WAL mode, Prefect and
MLflow files; the restore refuses while a pid file names a live process and when a checksum fails,
touching nothing. Compose mode is checked with ``--dry-run`` against what ``docker-compose config
--volumes`` reports (no engine here), and its real (non dry-run) code path against a stand-in docker CLI
whose volumes are directories.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from dotenv import dotenv_values

from tests.deploy.compose_env import CHECK_ENV_FILE

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "deployments" / "backup" / "backup.sh"
RESTORE = ROOT / "deployments" / "backup" / "restore.sh"
pytestmark = pytest.mark.unit

needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
SQLITE_TOOLS = ["python", pytest.param("sqlite3", marks=pytest.mark.skipif(
    shutil.which("sqlite3") is None, reason="sqlite3 CLI not installed"))]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COMPOSE_", "CARBON_NEXUS_", "FAKE_")) and k not in ("DOCKER", "BACKUP_SQLITE_TOOL")}
    # every secret compose requires, as placeholders (compose prefers them over any .env); no env file read
    env.update({k: v or "" for k, v in dotenv_values(CHECK_ENV_FILE).items()}, CARBON_NEXUS_ENV_FILE="")
    env.update(extra)
    return env


def _run(script: Path, *args: str | Path, env: dict[str, str] | None = None,
         cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *map(str, args)], cwd=cwd, env=env or _env(),
                          capture_output=True, text=True, timeout=120)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for name, data in _tree(root).items():
        h.update(name.encode() + b"\0" + data)
    return h.hexdigest()


def _project(name: str) -> str:
    """Compose's project name from a directory name (v1 and v2 agree)."""
    return re.sub(r"[^-_a-z0-9]", "", name.lower()).lstrip("-_")


# ---------------------------------------------------------------------------------------------- scripts


def test_scripts_parse() -> None:
    for script in (BACKUP, RESTORE):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_scripts_pass_shellcheck() -> None:
    result = subprocess.run(["shellcheck", "-x", str(BACKUP), str(RESTORE)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_help() -> None:
    for script in (BACKUP, RESTORE):
        result = _run(script, "-h")
        assert result.returncode == 0 and result.stdout.startswith("usage:"), result.stderr
    assert _run(BACKUP, "--bogus").returncode != 0


# ---------------------------------------------------------------------------------------------- local


@pytest.fixture()
def platform_dirs(tmp_path: Path) -> dict[str, Path]:
    """A var/ and an mlflow/ as ``make up`` leaves them (small), plus where backups go."""
    var, mlflow = tmp_path / "var", tmp_path / "mlflow"
    for d in ("data", "prefect/storage", "rag", "inbox", "log", "run"):
        (var / d).mkdir(parents=True)
    with sqlite3.connect(var / "prefect" / "prefect.db") as db:
        db.execute("CREATE TABLE flow_run (id TEXT PRIMARY KEY, state TEXT)")
        db.executemany("INSERT INTO flow_run VALUES (?, ?)", [(f"run-{i}", "COMPLETED") for i in range(50)])
    (var / "prefect" / "storage" / "result-1").write_bytes(os.urandom(2048))
    (var / "rag" / "kb-embeddings-abc.npy").write_bytes(os.urandom(4096))
    (var / "inbox" / "meters.csv").write_text("site,kwh\nberlin,12.5\n")
    (var / "log" / "data-core.log").write_text("started\n")
    (var / "run" / "data-core.pid").write_text("999999999")  # stale: not backed up, not a refusal
    (mlflow / "artifacts" / "1" / "model").mkdir(parents=True)
    (mlflow / "README.md").write_text("# MLflow\n")
    with sqlite3.connect(mlflow / "mlflow.db") as db:
        db.execute("CREATE TABLE registered_models (name TEXT)")
        db.execute("INSERT INTO registered_models VALUES ('carbon-baseline')")
    (mlflow / "artifacts" / "1" / "model" / "model.pkl").write_bytes(os.urandom(10_000))
    return {"var": var, "mlflow": mlflow, "backups": tmp_path / "backups"}


def _local_env(dirs: dict[str, Path], **extra: str) -> dict[str, str]:
    return _env(CARBON_NEXUS_VAR=str(dirs["var"]), CARBON_NEXUS_MLFLOW=str(dirs["mlflow"]), **extra)


def _rows(db: Path, table: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608 (test tables)


def _files(root: Path) -> dict[str, bytes]:
    """Every file but the SQLite databases (compared by their rows) and var/run (not backed up)."""
    return {k: v for k, v in _tree(root).items() if not k.endswith((".db", "-wal", "-shm")) and not k.startswith("run/")}


def _backup_local(dirs: dict[str, Path], **extra: str) -> Path:
    result = _run(BACKUP, "--local", "-o", dirs["backups"], env=_local_env(dirs, **extra))
    assert result.returncode == 0, result.stderr
    (out,) = dirs["backups"].iterdir()
    return out


@pytest.mark.parametrize("sqlite_tool", SQLITE_TOOLS)
def test_local_round_trip(platform_dirs: dict[str, Path], sqlite_tool: str) -> None:
    var, mlflow = platform_dirs["var"], platform_dirs["mlflow"]
    db_path = var / "data" / "carbon_nexus.db"
    # the data core's database, live: WAL mode, committed rows still in the WAL (the connection stays open,
    # so no checkpoint) and a write transaction open while the backup runs
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE emissions (id INTEGER PRIMARY KEY, site TEXT, kg REAL)")
    writer.executemany("INSERT INTO emissions (site, kg) VALUES (?, ?)", [(f"site-{i}", i * 1.5) for i in range(500)])
    assert (var / "data" / "carbon_nexus.db-wal").stat().st_size > 0
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO emissions (site, kg) VALUES ('uncommitted', 0)")
    try:
        out = _backup_local(platform_dirs, BACKUP_SQLITE_TOOL=sqlite_tool)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    expected_rows = _rows(db_path, "emissions")
    assert len(expected_rows) == 500
    other_files = _files(var)
    mlflow_files = _files(mlflow)
    expected_runs, expected_models = _rows(var / "prefect" / "prefect.db", "flow_run"), _rows(mlflow / "mlflow.db",
                                                                                               "registered_models")

    assert re.fullmatch(r"\d{8}T\d{6}Z-local", out.name)
    assert sorted(p.name for p in out.iterdir()) == ["MANIFEST", "SHA256SUMS", "mlflow.tar.gz", "var.tar.gz"]
    assert "mode=local" in (out / "MANIFEST").read_text()
    check = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with tarfile.open(out / "var.tar.gz") as tar:
        names = set(tar.getnames())
    assert "./data/carbon_nexus.db" in names and "./prefect/prefect.db" in names
    assert not any(n.startswith("./run") or n.endswith(("-wal", "-shm")) for n in names), names

    # damage everything
    with sqlite3.connect(db_path) as db:
        db.execute("DELETE FROM emissions")
    with sqlite3.connect(var / "prefect" / "prefect.db") as db:
        db.execute("DROP TABLE flow_run")
    (var / "rag" / "kb-embeddings-abc.npy").unlink()
    (var / "inbox" / "meters.csv").write_text("overwritten")
    (var / "inbox" / "new.csv").write_text("not in the backup")
    shutil.rmtree(mlflow / "artifacts")
    (mlflow / "mlflow.db").unlink()

    result = _run(RESTORE, "--local", out, env=_local_env(platform_dirs))
    assert result.returncode == 0, result.stderr
    assert _rows(db_path, "emissions") == expected_rows
    assert _rows(var / "prefect" / "prefect.db", "flow_run") == expected_runs
    assert _rows(mlflow / "mlflow.db", "registered_models") == expected_models
    assert _files(var) == other_files
    assert _files(mlflow) == mlflow_files
    assert not (var / "inbox" / "new.csv").exists()
    assert sorted(p.name for p in var.parent.iterdir()) == ["backups", "mlflow", "var"]  # no temp dirs left


def test_local_restore_keep_old(platform_dirs: dict[str, Path]) -> None:
    out = _backup_local(platform_dirs)
    (platform_dirs["mlflow"] / "README.md").write_text("changed\n")
    result = _run(RESTORE, "--local", "--keep-old", out, "mlflow", env=_local_env(platform_dirs))
    assert result.returncode == 0, result.stderr
    assert (platform_dirs["mlflow"] / "README.md").read_text() == "# MLflow\n"
    (kept,) = platform_dirs["mlflow"].parent.glob("mlflow.pre-restore-*")
    assert (kept / "README.md").read_text() == "changed\n"


def test_local_restore_refuses_while_the_platform_runs(platform_dirs: dict[str, Path]) -> None:
    out = _backup_local(platform_dirs)
    (platform_dirs["var"] / "inbox" / "meters.csv").write_text("newer data")
    (platform_dirs["var"] / "run" / "ml-engine.pid").write_text(str(os.getpid()))  # a live process
    before = _digest(platform_dirs["var"].parent)
    result = _run(RESTORE, "--local", out, env=_local_env(platform_dirs))
    assert result.returncode != 0
    assert "running" in result.stderr and str(os.getpid()) in result.stderr
    assert _digest(platform_dirs["var"].parent) == before


@pytest.mark.parametrize("corrupt", ["archive", "sums"])
def test_local_restore_refuses_a_corrupted_backup(platform_dirs: dict[str, Path], corrupt: str) -> None:
    out = _backup_local(platform_dirs)
    if corrupt == "archive":
        data = bytearray((out / "var.tar.gz").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (out / "var.tar.gz").write_bytes(bytes(data))
    else:
        sums = (out / "SHA256SUMS").read_text()
        (out / "SHA256SUMS").write_text(re.sub(r"^[0-9a-f]{64}(?=  mlflow)", "0" * 64, sums, flags=re.M))
    (platform_dirs["var"] / "inbox" / "meters.csv").write_text("newer data")
    before = _digest(platform_dirs["var"].parent)
    result = _run(RESTORE, "--local", out, env=_local_env(platform_dirs))
    assert result.returncode != 0
    assert "checksum" in result.stderr and "nothing restored" in result.stderr
    assert _digest(platform_dirs["var"].parent) == before


def test_restore_refuses_a_directory_without_sha256sums(platform_dirs: dict[str, Path]) -> None:
    out = _backup_local(platform_dirs)
    (out / "SHA256SUMS").unlink()
    before = _digest(platform_dirs["var"].parent)
    for args in (("--local", out), ("--dry-run", out)):
        result = _run(RESTORE, *args, env=_local_env(platform_dirs))
        assert result.returncode != 0 and "SHA256SUMS" in result.stderr, result.stderr
    assert _digest(platform_dirs["var"].parent) == before


def test_local_modes_do_not_mix(platform_dirs: dict[str, Path]) -> None:
    out = _backup_local(platform_dirs)
    result = _run(RESTORE, "--dry-run", out, env=_local_env(platform_dirs))
    assert result.returncode != 0 and "--local" in result.stderr


# ---------------------------------------------------------------------------------------------- compose


def _compose_volumes(compose_file: Path) -> list[str]:
    result = subprocess.run(["docker-compose", "-f", str(compose_file), "config", "--volumes"],
                            env=_env(), capture_output=True, text=True, check=True)
    return result.stdout.split()


def _dry_run_volume_commands(stdout: str) -> dict[str, str]:
    """volume archive -> docker volume name, from the `docker run` tar lines of a dry run."""
    found = {}
    for line in stdout.splitlines():
        m = re.fullmatch(r"\+ docker run --rm -v (\S+):/data:ro -v \S+:/backup \S+ tar czf /backup/(\S+)\.tar\.gz"
                         r" -C /data \.", line)
        if m:
            found[m.group(2)] = m.group(1)
    return found


@needs_compose
def test_compose_dry_run_archives_every_volume_of_compose_yaml(tmp_path: Path) -> None:
    volumes = _compose_volumes(ROOT / "compose.yaml")
    assert "postgres-data" in volumes
    result = _run(BACKUP, "--dry-run", "-o", tmp_path, env=_env(COMPOSE_PROJECT_NAME="Carbon.Nexus-Test"))
    assert result.returncode == 0, result.stderr
    assert _dry_run_volume_commands(result.stdout) == {v: f"carbonnexus-test_{v}" for v in volumes}
    assert re.search(r"^\+ docker exec postgres pg_dump -U carbon -d carbon_nexus --format=custom > "
                     + re.escape(str(tmp_path)) + r"/\d{8}T\d{6}Z/carbon_nexus\.pgdump$", result.stdout, re.M)
    assert list(tmp_path.iterdir()) == []  # a dry run writes nothing

    # the default project is the compose file's directory, as compose names it
    default = _run(BACKUP, "--dry-run", "-o", tmp_path, env=_env())
    assert default.returncode == 0, default.stderr
    if "COMPOSE_PROJECT_NAME" not in ((ROOT / ".env").read_text() if (ROOT / ".env").exists() else ""):
        assert set(_dry_run_volume_commands(default.stdout).values()) == {f"{_project(ROOT.name)}_{v}" for v in volumes}


@needs_compose
def test_compose_volume_names_follow_the_compose_file(tmp_path: Path) -> None:
    stack = tmp_path / "My.Stack_2"
    stack.mkdir()
    (stack / "stack.yaml").write_text("""\
version: "3.8"
services:
  app:
    image: alpine:3.20
    volumes: ["data:/a", "ext:/b", "named:/c"]
volumes:
  data:
  ext:
    external: true
  named:
    name: custom-volume
""")
    assert _compose_volumes(stack / "stack.yaml") == ["data", "ext", "named"]
    # COMPOSE_FILE, as compose reads it
    result = _run(BACKUP, "-n", "-o", tmp_path / "b", env=_env(COMPOSE_FILE=str(stack / "stack.yaml")), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _dry_run_volume_commands(result.stdout) == {"data": "mystack_2_data", "ext": "ext", "named": "custom-volume"}
    # -f (relative to the current directory) and a subset
    result = _run(BACKUP, "-n", "-f", "My.Stack_2/stack.yaml", "data", env=_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _dry_run_volume_commands(result.stdout) == {"data": "mystack_2_data"}
    result = _run(BACKUP, "-n", "-f", stack / "stack.yaml", "postgres-data", env=_env())
    assert result.returncode != 0 and "no volume 'postgres-data'" in result.stderr


def _fake_backup(tmp_path: Path, volumes: list[str], pgdump: bool) -> Path:
    out = tmp_path / "backups" / "20260101T000000Z"
    out.mkdir(parents=True)
    for v in volumes:
        with tarfile.open(out / f"{v}.tar.gz", "w:gz") as tar:
            tar.add(tmp_path, arcname=".", recursive=False)
    if pgdump:
        (out / "carbon_nexus.pgdump").write_bytes(b"PGDMP fake")
    (out / "MANIFEST").write_text("mode=compose\n")
    subprocess.run("sha256sum -- * > SHA256SUMS", shell=True, cwd=out, check=True)
    return out


@needs_compose
def test_compose_restore_dry_run(tmp_path: Path) -> None:
    volumes = _compose_volumes(ROOT / "compose.yaml")
    out = _fake_backup(tmp_path, volumes, pgdump=True)
    env = _env(COMPOSE_PROJECT_NAME="cn")
    result = _run(RESTORE, "--dry-run", "--with-database", out, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "+ docker ps -q --filter label=com.docker.compose.project=cn" in lines
    for v in volumes:
        assert f"+ docker volume create cn_{v} > /dev/null" in lines
        assert (f"+ docker run --rm -v cn_{v}:/data -v {out}:/backup:ro alpine:3.20 sh -c "
                f"'find /data -mindepth 1 -delete && tar xzf \"/backup/$1\" -C /data' restore {v}.tar.gz") in lines
    assert any(line.startswith("+ docker-compose -f ") and line.endswith(" -p cn up -d postgres") for line in lines)
    assert (f"+ docker exec -i postgres pg_restore -U carbon -d carbon_nexus --clean --if-exists --no-owner"
            f" < {out}/carbon_nexus.pgdump") in lines
    # without --with-database the pg_restore step is printed, not run
    result = _run(RESTORE, "--dry-run", out, "inbox", env=env)
    assert result.returncode == 0, result.stderr
    assert "restore inbox.tar.gz" in result.stdout and "restore rag-cache.tar.gz" not in result.stdout
    assert "--with-database" in result.stdout and "pg_restore" in result.stdout
    assert "+ docker exec -i" not in result.stdout
    # an archive that is no volume of the compose file
    stray = _fake_backup(tmp_path / "other", ["not-a-volume"], pgdump=False)
    result = _run(RESTORE, "--dry-run", stray, env=env)
    assert result.returncode != 0 and "no volume 'not-a-volume'" in result.stderr


def test_compose_mode_needs_docker(tmp_path: Path) -> None:
    result = _run(BACKUP, "-o", tmp_path, env=_env(DOCKER=str(tmp_path / "no-such-docker")))
    assert result.returncode != 0 and "docker CLI not found" in result.stderr
    out = _fake_backup(tmp_path, ["inbox"], pgdump=False)
    result = _run(RESTORE, out, env=_env(DOCKER=str(tmp_path / "no-such-docker")))
    assert result.returncode != 0 and "docker CLI not found" in result.stderr
    assert list((tmp_path / "backups").iterdir()) == [out]


# a stand-in for the docker CLI: named volumes are directories under $FAKE_VOLUMES, `docker run` runs its
# command on the host with the mount points rewritten, every call is logged to $FAKE_DOCKER_LOG
FAKE_DOCKER = '''#!{python}
import os, re, subprocess, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
vols = Path(os.environ["FAKE_VOLUMES"])
cmd = args[0] if args else ""
if cmd == "info":
    sys.exit(int(os.environ.get("FAKE_DOCKER_INFO_RC", "0")))
if cmd == "ps":
    pg = any(a.startswith("name=") for a in args)
    names = os.environ.get("FAKE_PG_RUNNING" if pg else "FAKE_RUNNING", "")
    print(names) if names else None
    sys.exit(0)
if cmd == "volume":
    path = vols / args[2]
    if args[1] == "create":
        path.mkdir(exist_ok=True)
    sys.exit(0 if path.is_dir() else 1)
if cmd == "exec":
    if "pg_dump" in args:
        sys.stdout.write("PGDMP from the fake")
    sys.exit(0)
if cmd == "run":
    i, mounts = 1, {{}}
    while args[i].startswith("-"):
        if args[i] == "-v":
            src, dst = args[i + 1].split(":")[:2]
            mounts[dst] = src if src.startswith("/") else str(vols / src)
            i += 1
        i += 1
    pattern = re.compile("|".join(re.escape(d) for d in mounts) + r"(?=/|\\b)")
    command = [pattern.sub(lambda m: mounts[m.group(0)], a) for a in args[i + 1:]]
    rc = subprocess.run(command).returncode
    sys.exit(int(os.environ.get("FAKE_RUN_RC", rc)))  # FAKE_RUN_RC=1: GNU tar's "file changed as we read it"
sys.exit("fake docker: unsupported " + " ".join(args))
'''


@pytest.fixture()
def fake_docker(tmp_path: Path) -> dict[str, str]:
    docker = tmp_path / "fake-docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(0o755)
    (tmp_path / "volumes").mkdir()
    return {"DOCKER": str(docker), "FAKE_VOLUMES": str(tmp_path / "volumes"),
            "FAKE_DOCKER_LOG": str(tmp_path / "docker.log")}


@needs_compose
def test_compose_round_trip_with_a_fake_docker(tmp_path: Path, fake_docker: dict[str, str]) -> None:
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "compose.yaml").write_text("""\
services:
  app:
    image: alpine:3.20
    volumes: ["app-data:/a", "uploads:/b"]
volumes:
  app-data:
  uploads:
""")
    volumes = Path(fake_docker["FAKE_VOLUMES"])
    (volumes / "stack_app-data" / "sub").mkdir(parents=True)
    (volumes / "stack_app-data" / "sub" / "state.bin").write_bytes(os.urandom(3000))
    (volumes / "stack_uploads").mkdir()
    (volumes / "stack_uploads" / "a.csv").write_text("x,y\n1,2\n")
    before = {v: _tree(volumes / v) for v in ("stack_app-data", "stack_uploads")}
    env = _env(**fake_docker, COMPOSE_FILE=str(stack / "compose.yaml"), FAKE_PG_RUNNING="abc123")

    result = _run(BACKUP, "-o", tmp_path / "backups", env=env)
    assert result.returncode == 0, result.stderr
    (out,) = (tmp_path / "backups").iterdir()
    assert sorted(p.name for p in out.iterdir()) == ["MANIFEST", "SHA256SUMS", "app-data.tar.gz",
                                                    "carbon_nexus.pgdump", "uploads.tar.gz"]
    assert (out / "carbon_nexus.pgdump").read_bytes() == b"PGDMP from the fake"
    assert "project=stack" in (out / "MANIFEST").read_text()

    shutil.rmtree(volumes / "stack_app-data")
    (volumes / "stack_uploads" / "a.csv").write_text("changed")
    (volumes / "stack_uploads" / "extra").write_text("not in the backup")

    # refused while a container of the project runs: nothing is touched
    log = Path(fake_docker["FAKE_DOCKER_LOG"])
    log.write_text("")
    running = _run(RESTORE, out, env={**env, "FAKE_RUNNING": "data-core"})
    assert running.returncode != 0 and "stack is running" in running.stderr and "data-core" in running.stderr
    assert not any(line.startswith(("volume create", "run ")) for line in log.read_text().splitlines())

    result = _run(RESTORE, out, env=env)
    assert result.returncode == 0, result.stderr
    assert {v: _tree(volumes / v) for v in ("stack_app-data", "stack_uploads")} == before
    assert "pg_restore" in result.stdout  # printed: no --with-database


def test_compose_mode_needs_a_reachable_engine(tmp_path: Path, fake_docker: dict[str, str]) -> None:
    result = _run(BACKUP, "-o", tmp_path / "backups", env=_env(**fake_docker, FAKE_DOCKER_INFO_RC="1"))
    assert result.returncode != 0 and "cannot reach the Docker engine" in result.stderr
    assert not (tmp_path / "backups").exists()


@needs_compose
@pytest.mark.parametrize(("running", "tar_rc", "ok"), [("data-core", "1", True), ("", "1", False),
                                                        ("data-core", "2", False)])
def test_a_volume_that_changes_while_a_live_stack_is_archived_is_a_noted_live_copy(
        tmp_path: Path, fake_docker: dict[str, str], running: str, tar_rc: str, ok: bool) -> None:
    """A running postgres writes its WAL while tar reads it (tar exits 1): a live copy, noted, not a failed
    backup. The same exit with the stack stopped, or any other failure, still fails the backup."""
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "compose.yaml").write_text("services:\n  db:\n    image: alpine:3.20\n    volumes: [\"db-data:/d\"]\n"
                                        "volumes:\n  db-data:\n")
    (Path(fake_docker["FAKE_VOLUMES"]) / "stack_db-data" / "pg_wal").mkdir(parents=True)
    (Path(fake_docker["FAKE_VOLUMES"]) / "stack_db-data" / "pg_wal" / "0001").write_bytes(b"wal")
    env = _env(**fake_docker, COMPOSE_FILE=str(stack / "compose.yaml"), FAKE_RUNNING=running, FAKE_RUN_RC=tar_rc)
    result = _run(BACKUP, "-o", tmp_path / "backups", env=env)
    assert (result.returncode == 0) is ok, result.stderr
    if ok:
        assert "stack_db-data changed while it was archived" in result.stderr
        (out,) = (tmp_path / "backups").iterdir()
        assert (out / "db-data.tar.gz").stat().st_size > 0 and (out / "SHA256SUMS").exists()
    else:
        assert "archiving volume stack_db-data failed" in result.stderr
