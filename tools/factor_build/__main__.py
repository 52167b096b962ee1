"""``python -m tools.factor_build``: rewrite data/factors/factors.csv, gwp.csv and activity_types.csv."""

from __future__ import annotations

from tools.factor_build.assemble import write_all


def main() -> None:
    for name, count in write_all().items():
        print(f"wrote data/factors/{name}: {count} rows")


if __name__ == "__main__":
    main()
