"""The ingest flow: files dropped in the inbox go to the data core once; good rows of a partly bad file are
kept and the file lands in done/ with its report; a file the data core refuses lands in failed/ with the
problem; while the data core is unreachable files wait in the inbox; re-sending a file changes nothing."""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from tests.conftest import AUTH, TOKEN, LiveServer
from tests.services.data_core.helpers import make_site

pytestmark = pytest.mark.integration
GOOD = "site,timestamp,activity_type,quantity,unit\ns1,2024-06-01T10:00:00Z,electricity,100,kWh\n" \
       "s1,2024-06-01T11:00:00Z,electricity,-5,kWh\n"  # the second row is bad (negative)
REFUSED = "this is not,a table\n"


def _drop(folder, name: str, text: str) -> None:  # type: ignore[no-untyped-def]
    path = folder / name
    path.write_text(text)
    past = time.time() - 60  # written a minute ago: settled
    os.utime(path, (past, past))


def test_drop_folder_files_are_ingested_once_and_sorted(prefect_harness, client, make_settings, tmp_path,
                                                        monkeypatch) -> None:
    from flows.ingest import ingest
    from services.data_core.app import create_app

    make_site(client, "s1", country="GB")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("INGEST_DIR", str(inbox))  # where files come from is a setting, never a parameter
    monkeypatch.setenv("INGEST_SOURCES", "[]")
    _drop(inbox, "meters.csv", GOOD)
    _drop(inbox, "junk.csv", REFUSED)
    fresh = inbox / "still-writing.csv"
    fresh.write_text(GOOD)  # modified just now: left for the next run
    soon = time.time() + 3600  # ... however slow the runs below are on a loaded machine
    os.utime(fresh, (soon, soon))

    monkeypatch.setenv("DATA_CORE_URL", "http://127.0.0.1:9")  # unreachable: everything waits
    import flows.ingest as fi

    monkeypatch.setattr(fi, "send_file", fi.send_file.with_options(retry_delay_seconds=0))
    down = ingest()
    assert down["waiting"] == 2 and sorted(p.name for p in inbox.glob("*.csv")) == ["junk.csv", "meters.csv",
                                                                                    "still-writing.csv"]
    with LiveServer(create_app(make_settings())) as dc:
        monkeypatch.setenv("DATA_CORE_URL", dc.url)
        first = ingest()
        assert first["committed"] == 1 and first["refused"] == 1 and first["accepted_rows"] == 1
        assert first["rejected_rows"] == 1
        assert (inbox / "done" / "meters.csv").exists() and (inbox / "failed" / "junk.csv").exists()
        report = json.loads((inbox / "done" / "meters.csv.report.json").read_text())
        assert report["accepted"] == 1 and report["rejected"] == 1
        problem = json.loads((inbox / "failed" / "junk.csv.report.json").read_text())
        assert problem["status"] in (400, 422) and problem["detail"]
        assert [p.name for p in inbox.glob("*.csv")] == ["still-writing.csv"]
        # the same file again (dropped a second time, or listed as a source): nothing new
        _drop(inbox, "meters.csv", GOOD)
        monkeypatch.setenv("INGEST_SOURCES", json.dumps([str(inbox / "done" / "meters.csv")]))
        again = ingest()
        assert again["committed"] == 0 and again["nothing_new"] >= 2 and again["accepted_rows"] == 0
        rows = httpx.get(dc.url + "/api/v1/emissions/totals", params={"group_by": "site"}, headers=AUTH,
                             trust_env=False).json()
        assert rows["rows"][0]["rows"] == 1  # one activity stored, once
