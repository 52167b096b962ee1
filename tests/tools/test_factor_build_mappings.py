"""Tests of the factor build's mapping tables (tools.factor_build.mappings, data/factors/mappings/*.csv)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tools.factor_build.assemble import build_activity_types, build_factors, build_gwp
from tools.factor_build.common import MAPPINGS_DIR
from tools.factor_build.mappings import TABLES, Mappings, load_mappings, mappings

pytestmark = pytest.mark.unit


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    """A writable copy of data/factors/mappings."""
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, target)
    return target


def test_every_mapping_row_is_used_by_the_build():
    # usage accumulates in the process-wide tables: after a full build every row must have matched
    build_activity_types(build_factors())
    build_gwp()
    assert mappings().unused() == {}, "mapping rows the build never matched: delete them or fix their keys"


def test_every_declared_table_has_a_file_and_every_file_a_table():
    assert sorted(p.stem for p in MAPPINGS_DIR.glob("*.csv")) == sorted(TABLES)
    readme = (MAPPINGS_DIR / "README.md").read_text(encoding="utf-8")
    for name, spec in TABLES.items():
        assert f"`{name}.csv`" in readme, f"{name}.csv is not described in data/factors/mappings/README.md"
        header = (MAPPINGS_DIR / f"{name}.csv").read_text(encoding="utf-8").splitlines()[0]
        assert header == ",".join(spec.columns)


def test_a_missing_column_is_a_clear_error(copied: Path):
    path = copied / "epa_hub_units.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.drop(columns=["unit"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"epa_hub_units\.csv: missing column\(s\) \['unit'\].*hub_unit,unit"):
        load_mappings(copied)


def test_a_misspelt_column_is_a_clear_error(copied: Path):
    path = copied / "desnz_factors.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("activity_type", "activity", 1), encoding="utf-8")
    message = r"missing column\(s\) \['activity_type'\], unexpected column\(s\) \['activity'\]"
    with pytest.raises(ValueError, match=message):
        load_mappings(copied)


@pytest.mark.parametrize(
    ("name", "append", "message"),
    [
        ("epa_hub_units", "gallon,liter\n", r"duplicate key \['hub_unit'\] on line\(s\) \[4, 9\]"),
        ("desnz_waste_methods", "Incineration,\n", r"empty 'method' on line\(s\) \[9\]"),
        ("desnz_factors", "a,b,c,,,litres,x,one,,,,\n", r"'scope' is not a whole number on line\(s\) \[68\]"),
    ],
)
def test_bad_cells_are_clear_errors(copied: Path, name: str, append: str, message: str):
    path = copied / f"{name}.csv"
    path.write_text(path.read_text(encoding="utf-8") + append, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{name}\.csv: {message}"):
        load_mappings(copied)


def test_missing_and_stray_files_are_clear_errors(copied: Path):
    (copied / "desnz_units.csv").rename(copied / "desnz_unit.csv")
    with pytest.raises(ValueError, match=r"no table is declared for: \['desnz_unit\.csv'\]"):
        load_mappings(copied)
    (copied / "desnz_unit.csv").unlink()
    with pytest.raises(ValueError, match=r"desnz_units\.csv: mapping file missing \(columns: uom,unit\)"):
        load_mappings(copied)


def test_lookups_record_only_the_keys_that_matched():
    tables = Mappings(
        {
            "epa_hub_units": pd.DataFrame({"hub_unit": ["gallon", "scf"], "unit": ["gallon", "scf"]}),
            "epa_hub_t8_activities": pd.DataFrame(
                {"vehicle_type": ["Rail", "Rail"], "unit": ["a", "b"], "activity_type": ["rail_a", "rail_b"]}
            ),
        }
    )
    units = tables.map("epa_hub_units", pd.Series(["gallon", "barrel", "gallon"], index=[5, 6, 7]))
    assert units.index.tolist() == [5, 6, 7]
    assert units.tolist()[0::2] == ["gallon", "gallon"] and pd.isna(units[6])
    activity = tables.map("epa_hub_t8_activities", pd.Series(["Rail", "Bus"]), pd.Series(["b", "a"]))
    assert activity.tolist()[0] == "rail_b" and pd.isna(activity[1])
    assert tables.unused() == {"epa_hub_units": [("scf",)], "epa_hub_t8_activities": [("Rail", "a")]}
    tables.table("epa_hub_units")
    assert "epa_hub_units" not in tables.unused()
