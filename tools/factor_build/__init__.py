"""Build the factor library (``data/factors/*.csv``) from the public sources in ``data/sources``.

Run ``python -m tools.factor_build`` from the repository root to rewrite ``data/factors/factors.csv``,
``gwp.csv`` and ``activity_types.csv``. The build reads only files under ``data/`` (found from this
package's location), uses no clock, no network and no randomness, so the same inputs always give
byte-identical outputs; a unit test checks that the committed files equal a fresh build.

One reader module per publication normalises it to
:data:`services.data_core.factors.schema.FACTOR_COLUMNS`: :mod:`.epa_hub` (EPA GHG Emission Factors
Hub, 2025 CSV extracts; the 2021 workbook is parsed by :mod:`.epa_hub_workbook`), :mod:`.desnz` (UK DESNZ
2024 flat file), :mod:`.supply_chain` (EPA Supply Chain factors / USEEIO) and :mod:`.grid` (OWID/Ember
country intensity and the hourly GB grid intensity). :mod:`.assemble` joins, checks and writes them.
Mapping choices are data: the reviewed CSV files in ``data/factors/mappings/`` (loaded by
:mod:`.mappings`, documented in ``data/factors/mappings/README.md`` and ``data/factors/README.md``).
"""
