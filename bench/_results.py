"""The one shape every benchmark hands to `make bench` (bench/run_all.py) for bench/RESULTS.md.

A script that accepts `--results PATH` writes there, once it is done:

    write_results(path, bench="catalog", baseline="healthz: 1 SELECT 1", rows=[
        {"row": "category page 1 (API)", "figures": "194 req/s, p50 38 ms, p99 50 ms, 1 SQL", "ratio": 0.52},
    ], notes=["30,000 SKUs"])

`ratio` is the row against the script's own baseline measured in the same run (None when the row
has none); `figures` is free text, what a reader needs to judge the row.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


def write_results(path: str | Path, *, bench: str, baseline: str, rows: list[dict], notes: list[str] = ()) -> None:
    for row in rows:
        ratio = row.get("ratio")
        row["ratio"] = None if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)) else round(ratio, 3)
    Path(path).write_text(json.dumps({
        "bench": bench, "baseline": baseline, "rows": rows, "notes": list(notes),
        "load_average": os.getloadavg(),
    }, ensure_ascii=False, indent=2))
