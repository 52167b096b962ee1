"""Reading a chat message: the parser before (``bench/parse_before.py``, the module as it was on main
c4927e5) against now (``services/rag/question.py``, which reads a question since issue 16), on the same adversarial messages (issue #15, item 7).

    .venv/bin/python bench/parse.py                 # 2,000 / 20,000 / 100,000 characters
    .venv/bin/python bench/parse.py --sizes 2000 20000 --old-max 20000 --repeat 3

Prints CPU seconds (median of --repeat runs) per message kind and size, and the ratio old/new. The old
parser is run only up to ``--old-max`` characters (it needs minutes at 100,000).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import REPO, md_header, md_row, timer  # noqa: E402
from services.rag import question as new  # noqa: E402

SITES = {f"b{i}": {"name": f"Building {i}"} for i in range(1, 41)}
ACTS = ["electricity", "natural_gas", "vehicle_diesel", "air_travel_long_haul", "hotel_stay"]
YM = [(y, m) for y in (2019, 2020) for m in range(1, 13)]
KINDS = {
    "month + spaces": lambda n: "march" + " " * (n - 6) + "x",
    "building + spaces": lambda n: "building" + " " * (n - 9) + "x",
    "site + digits": lambda n: "site a" + "1" * (n - 8) + "_!",
    "which site x k": lambda n: ("which site " * (n // 11 + 1))[:n],
    "jan x k": lambda n: ("jan " * (n // 4 + 1))[:n],
    "q1 x k": lambda n: ("q1 " * (n // 3 + 1))[:n],
    "digits": lambda n: "1" * n,
    "separators": lambda n: ("1-/, " * (n // 5 + 1))[:n],
    "question x k": lambda n: ("emissions of b3 in march 2020 vs 2019? " * (n // 39 + 1))[:n],
}


def load_old() -> Any:
    spec = importlib.util.spec_from_file_location("parse_before", REPO / "bench" / "parse_before.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def timed(module: Any, text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        with timer(time.process_time) as t:
            module.parse(text, sites=SITES, activity_types=ACTS, year_months=YM)
        times.append(t.s)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2_000, 20_000, 100_000])
    ap.add_argument("--old-max", type=int, default=20_000, help="largest size the old parser is run on")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    old = load_old()
    print(md_header(["message", "chars", "before s", "now s", "before/now"]))
    for kind, make in KINDS.items():
        for n in args.sizes:
            text = make(n)
            assert len(text) == n, (kind, len(text), n)
            now = timed(new, text, args.repeat)
            before = timed(old, text, args.repeat) if n <= args.old_max else None
            ratio = f"{before / now:,.0f}x" if before is not None and now > 0 else "-"
            before_s = f"{before:.3f}" if before is not None else "not run"
            print(md_row([kind, f"{n:,}", before_s, f"{now:.3f}", ratio]), flush=True)


if __name__ == "__main__":
    main()
