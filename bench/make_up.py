"""How long ``make up`` takes on a warm machine (venv, bundle, demo data and model already there), against
starting the same processes one at a time, each only after the previous one answers its health route.

Goal (issue #7): every service healthy within 60 s warm. Measured in one run:
  * ours: ``services.platform up`` (starts a service as soon as what it needs is healthy), time until all
    are healthy, and until ``up`` returns (demo replay, champion check, fill-expected, the demo scan);
  * anchor: the same SERVICES started strictly one after another.
Run: ``.venv/bin/python bench/make_up.py [--json out.json]`` (stops a running platform first).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import PYTHON, REPO, child_env  # noqa: E402
from services import platform  # noqa: E402


def make_up() -> int:
    """``python -m services.platform up`` as ``make up`` runs it; its exit code."""
    return subprocess.run([PYTHON, "-m", "services.platform", "up"], cwd=REPO, env=child_env(), check=False,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def _all_healthy_at(started: float, stop: threading.Event, out: dict[str, float]) -> None:
    pending = {s.name for s in platform.SERVICES}
    while pending and not stop.is_set():
        for s in platform.SERVICES:
            if s.name in pending and platform._healthy(s)[0]:
                pending.discard(s.name)
                out[s.name] = time.monotonic() - started
        time.sleep(0.25)


def ours() -> dict[str, object]:
    platform.down()
    healthy: dict[str, float] = {}
    stop = threading.Event()
    started = time.monotonic()
    watcher = threading.Thread(target=_all_healthy_at, args=(started, stop, healthy), daemon=True)
    watcher.start()
    code = make_up()
    total = time.monotonic() - started
    watcher.join(timeout=30)
    stop.set()
    return {"exit": code, "all_healthy_s": max(healthy.values()) if len(healthy) == len(platform.SERVICES) else None,
            "up_returned_s": total, "per_service_s": healthy}


def anchor() -> dict[str, object]:
    platform.down()
    per: dict[str, float] = {}
    started = time.monotonic()
    for s in platform.SERVICES:
        platform.start(s)
        if not platform.wait_healthy([s], timeout=180)[s.name]:
            return {"all_healthy_s": None, "failed": s.name}
        per[s.name] = time.monotonic() - started
    return {"all_healthy_s": time.monotonic() - started, "per_service_s": per}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    warm = make_up()  # make sure it is warm
    a = anchor()
    o = ours()
    result = {"warm_up_exit": warm, "ours": o, "anchor_one_at_a_time": a, "goal_s": 60}
    if o["all_healthy_s"] and a["all_healthy_s"]:
        result["ratio_anchor_over_ours"] = round(float(a["all_healthy_s"]) / float(o["all_healthy_s"]), 2)  # type: ignore[arg-type]
    print(f"make up, warm: all {len(platform.SERVICES)} services healthy in {o['all_healthy_s']:.1f} s "
          f"(goal 60 s), up returned after {o['up_returned_s']:.1f} s (demo replay, model check, fill-expected, scan)")
    print(f"anchor, one at a time: all healthy in {a['all_healthy_s']:.1f} s; ratio {result.get('ratio_anchor_over_ours')}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if o["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
