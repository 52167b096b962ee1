"""Prefect flow ``ingest``: files from the drop folder and the configured sources into the data core.

* Drop folder ``INGEST_DIR`` (default ``var/inbox``): every ``*.csv`` / ``*.xlsx`` is sent to
  ``POST /api/v1/ingest`` with an ``Idempotency-Key`` derived from its content, then moved to
  ``INGEST_DIR/done/`` (with the data core's report next to it as ``<name>.report.json``) or, when the data
  core refuses the file itself (400, 413, 415, 422), to ``INGEST_DIR/failed/`` with the problem document. A
  file the data core could not be reached for, or answered with something that may change (409 "retry",
  401, 429, ...), stays in the inbox for the next run (unreachable: retried with backoff first). Files
  modified in the last 5 seconds are left for the next run (they may still be being written).
* Sources ``INGEST_SOURCES``: paths or glob patterns read in place (nothing is moved); a file already sent
  with the same content changes nothing (same key: the data core replays its first answer).

Good rows of a partly bad file are kept; its bad rows come back in the report and are stored for review
by the data core. Files are the unit of work (one task each) on the chosen task runner; the data core
splits large files into chunks itself. Each ingest that commits readings raises an event the orchestration
engine turns into a targeted scan.

    python -m flows.ingest
"""

from __future__ import annotations

import glob
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import SERVICE_RETRIES, FlowSettings, make_task_runner, run_logger, service_client
from services.common.datacore import TokenRefused, UpstreamProblem

TYPES = {".csv": "text/csv", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def idempotency_key(content: bytes) -> str:
    return "file-sha256:" + hashlib.sha256(content).hexdigest()


@task(name="ingest-file", cache_policy=NO_CACHE, **SERVICE_RETRIES)
def send_file(path: str) -> dict[str, Any]:
    """Send one file (a path the flow found in the drop folder or the sources) to the data core
    (``DATA_CORE_URL``); 4xx answers are returned (the file is refused), 5xx and no answer raise (retried)."""
    file = Path(path)
    content = file.read_bytes()
    headers = {"Idempotency-Key": idempotency_key(content), "X-Source-Name": file.name}
    if file.suffix.lower() == ".csv":
        send: dict[str, Any] = {"content": content, "headers": {**headers, "Content-Type": TYPES[".csv"]}}
    else:
        send = {"files": {"file": (file.name, content, TYPES[".xlsx"])}, "headers": headers}
    with service_client("data_core", timeout=1800.0) as dc:
        try:
            response = dc.request("POST", "/api/v1/ingest", params={"source_name": file.name}, **send)
        except (UpstreamProblem, TokenRefused) as exc:  # a 4xx answer is the outcome (5xx, no answer: retried)
            response = exc.response
    body = response.json()
    if response.headers.get("Idempotent-Replayed") == "true":  # sent before: the first answer again
        body["replayed"] = True
    return {"path": path, "status_code": response.status_code, "body": body}


REFUSED = {400, 413, 415, 422}  # the file itself is bad: it goes to failed/ with the problem document
SETTLE_SECONDS = 5.0  # a file modified more recently may still be being written: the next run takes it


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    now = time.time()
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TYPES
                  and now - p.stat().st_mtime >= SETTLE_SECONDS)


def _move(path: Path, outcome: dict[str, Any], root: Path) -> Path | None:
    if not path.exists():  # another run moved it already
        return None
    target = root / ("done" if outcome["status_code"] < 400 else "failed")
    target.mkdir(parents=True, exist_ok=True)
    destination = target / path.name
    if destination.exists():  # the same name again: keep both
        destination = target / f"{path.stem}.{hashlib.sha1(path.read_bytes()).hexdigest()[:8]}{path.suffix}"
    shutil.move(str(path), destination)
    destination.with_name(destination.name + ".report.json").write_text(json.dumps(outcome["body"], indent=2))
    return destination


@flow(name="ingest-files")
def ingest_files(files: list[str]) -> list[dict[str, Any]]:
    """One task per file found (in the drop folder or the sources), on the task runner the parent chose."""
    futures = [send_file.submit(p) for p in files]
    out = []
    for path, future in zip(files, futures, strict=True):
        try:
            out.append(future.result())
        except Exception as exc:  # noqa: BLE001 - unreachable after retries: the file waits for the next run
            out.append({"path": path, "status_code": None, "body": {"error": f"{type(exc).__name__}: {exc}"}})
    return out


@flow(name="ingest", log_prints=True)
def ingest(task_runner: Literal["thread", "dask"] | None = None) -> dict[str, Any]:
    """Ingest the drop folder's files (``INGEST_DIR``) and the configured sources (``INGEST_SOURCES``):
    where files are read from is a setting, never a run parameter."""
    settings = FlowSettings()  # type: ignore[call-arg]
    root = settings.ingest_dir
    root.mkdir(parents=True, exist_ok=True)
    dropped = _files(root)
    listed = sorted({Path(p).resolve() for pattern in settings.ingest_sources
                     for p in glob.glob(pattern) if Path(p).suffix.lower() in TYPES})
    seen = {p.resolve() for p in dropped}
    paths = [str(p) for p in [*dropped, *(p for p in listed if p not in seen)]]
    summary: dict[str, Any] = {"files": len(paths), "committed": 0, "nothing_new": 0, "refused": 0, "waiting": 0,
                               "accepted_rows": 0, "rejected_rows": 0}
    if not paths:
        print(f"ingest: nothing in {root} or the configured sources")
        return summary
    outcomes = ingest_files.with_options(task_runner=make_task_runner(task_runner))(paths)
    rows = []
    dropped_set = {str(p) for p in dropped}
    for outcome in outcomes:
        body, code = outcome["body"], outcome["status_code"]
        if code is None or (code >= 400 and code not in REFUSED):
            # unreachable, or an answer that may change (409 retry, 401 wrong token, 429, ...): keep the file
            summary["waiting"] += 1
            state = "waiting: " + ("data core unreachable" if code is None else f"HTTP {code}: "
                                   f"{str(body.get('detail', ''))[:200]}")
            code = None
        elif code >= 400:
            summary["refused"] += 1
            state = f"refused: {body.get('detail', '')[:200]}"
        else:
            replayed = bool(body.get("replayed"))  # the same content was sent before: its first answer again
            summary["committed" if body.get("status") == "committed" and not replayed else "nothing_new"] += 1
            if not replayed:
                summary["accepted_rows"] += int(body.get("accepted", 0))
                summary["rejected_rows"] += int(body.get("rejected", 0))
            state = "already ingested" if replayed else body.get("status", "")
        if code is not None and outcome["path"] in dropped_set:
            _move(Path(outcome["path"]), outcome, root)
        rows.append({"file": Path(outcome["path"]).name, "result": state, "accepted": body.get("accepted"),
                     "duplicates": body.get("duplicates"), "rejected": body.get("rejected"),
                     "batch": body.get("batch_id")})
    create_table_artifact(key="ingest", table=rows, description=f"ingest: {summary}")
    if summary["waiting"]:
        run_logger().warning("%d files wait for the data core", summary["waiting"])
    print(f"ingest: {summary}")
    return summary


if __name__ == "__main__":
    print(json.dumps(ingest(), default=str))
