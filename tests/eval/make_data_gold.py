"""Fill ``expect`` in tests/eval/data_questions.yaml from a data core holding the demo data, by running each
question's ``query`` directly (not through the chatbot).

    python tests/eval/make_data_gold.py --url http://127.0.0.1:8002
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import httpx
import yaml

PATH = Path(__file__).with_name("data_questions.yaml")
HEADER = PATH.read_text(encoding="utf-8").split("\n- q:", 1)[0] + "\n" if PATH.exists() else ""


def gold(http: httpx.Client, query: dict[str, Any]) -> dict[str, Any]:
    params = dict(query["params"])
    params.setdefault("method", "location")
    kind = query["endpoint"]
    if kind == "totals":
        return {"kg": http.get("/api/v1/emissions/totals", params=params).raise_for_status().json()["total_kg_co2e"]}
    if kind == "top":
        row = http.get("/api/v1/emissions/top", params=params).raise_for_status().json()["rows"][0]
        return {"kg": row["kg_co2e"], "key": row[params["by"]]}
    if kind == "change":
        (a0, a1), (b0, b1) = query["periods"]
        get = lambda s, e: http.get("/api/v1/emissions/totals",  # noqa: E731
                                    params={**params, "start": s, "end": e}).raise_for_status().json()["total_kg_co2e"]
        return {"kg": get(b0, b1) - get(a0, a1)}
    if kind == "intensity":
        kg = http.get("/api/v1/emissions/totals", params=params).raise_for_status().json()["total_kg_co2e"]
        area = http.get(f"/api/v1/sites/{params['site'][0]}").raise_for_status().json()["floor_area_m2"]
        return {"kg_per_m2": kg / area}
    raise ValueError(kind)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8002")
    args = parser.parse_args()
    items = yaml.safe_load(PATH.read_text(encoding="utf-8"))
    token = os.environ.get("READ_TOKEN") or os.environ.get("API_TOKEN", "")  # reads need a token
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {token}"}, timeout=60,
                      trust_env=False) as http:
        for item in items:
            item["expect"] = gold(http, item["query"])
    PATH.write_text(HEADER + yaml.safe_dump(items, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    print(f"{len(items)} questions written to {PATH}")


if __name__ == "__main__":
    main()
