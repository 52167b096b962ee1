"""Hotspot-scan cost with the second (reference) baseline of issue #18, against the same scan without it, in
one run (the anchor): goal "not slower than 1.5x".

Set-up as ``bench/scan.py`` 1x (the 40 Cambridge buildings' 2020 hourly readings and the production
baseline's day-ahead expected values through the data core's API, SQLite; expected values cached in
``bench/out/``). Then:

1. BEFORE: ``--repeat`` full scans (``scan_sites`` over every site, window 2020, chunks of 10, 1 thread) with
   no reference baseline stored: the day-ahead detection only (as before #18; one extra, empty read of
   ``/api/v1/reference-baselines`` per chunk).
2. ``fit-reference``'s work (timed apart, not part of the scan): every series' reference fit on
   2020-01-01 .. 03-01 and stored (``PUT /api/v1/reference-baselines``). This bench's data core has no
   weather station, so the reference runs on the time of week alone (the scan still asks each site's weather).
3. AFTER: the same scans with every series referenced: reference prediction, peer factor, the reference rules
   and the merge of both expectations' findings.

    PYTHONPATH=. .venv/bin/python bench/scan_reference.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import scan as base  # noqa: E402
from bench.harness import OUT, ratio  # noqa: E402
from bench.ingest import Database, server_process  # noqa: E402
from services.common.datacore import DataCoreClient  # noqa: E402
from services.lib.hotspots.reference_scan import fit_references  # noqa: E402
from services.lib.hotspots.scan import read_residuals, utc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--max-iter", type=int, default=600)
    parser.add_argument("--chunk-size", type=int, default=10)
    args = parser.parse_args()
    args.bundle, args.retrain = None, False
    OUT.mkdir(parents=True, exist_ok=True)
    predictions, info = base.expected_values(args)
    db = Database("sqlite", None)
    server = server_process(db.url, OUT / "scan-reference-server.log", None)
    try:
        server.wait_healthy(timeout=300.0)
        sites = sorted(base.replica(str(s["id"]), 0) for s in base.buildings())
        base.load(server, [0], predictions, info, args.batch)
        before = [base.full_scan(server, sites, args.chunk_size, 1) for _ in range(args.repeat)]
        t = time.perf_counter()
        with DataCoreClient(server.base, server.token) as dc:
            t0, t1 = utc("2020-01-01"), utc("2020-03-01")
            stored = sum(len(fit_references(dc, read_residuals(dc, [s], t0, t1), t0, t1)) for s in sites)
        fit_s = time.perf_counter() - t
        after = [base.full_scan(server, sites, args.chunk_size, 1) for _ in range(args.repeat)]
    finally:
        server.stop(30)
        db.drop()
    b, a = base.median_run(before), base.median_run(after)
    print(f"\nset-up: {stored} reference baselines fit and stored in {fit_s:.1f} s (not part of the scan)")
    print(f"{'':34}{'before':>10}{'after':>10}{'ratio':>8}")
    for label, key, spec in (("WALL s (median)", "wall_s", ".2f"), ("CPU s (client + data core)", "cpu_s", ".2f"),
                             ("rows (meter-hours)", "rows", ","), ("hotspots", "hotspots", ",")):
        print(f"{label:34}{b[key]:>10{spec}}{a[key]:>10{spec}}{ratio(a[key], b[key]):>8.2f}")
    print(f"runs (wall s): before {b['wall_runs_s']}, after {a['wall_runs_s']}; kinds after {a['kinds']}")


if __name__ == "__main__":
    main()
