"""Appends a peer's timings to $BASIN_BENCH_DIR/results/<section>.jsonl for bench/summary.py
(format at the top of summary.py). Shared by the reference scripts."""
import json
import os
import tempfile


def record(section, key, seconds, peer, values_checked, workload=None, check=None, per=None, note=None, side="peer"):
    """One line; `side="basin"` records Basin's own timings taken by a script that runs both sides
    interleaved (then `peer` and `values_checked` are ignored)."""
    folder = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "results")
    os.makedirs(folder, exist_ok=True)
    line = {"key": key, "side": side, "seconds": [float(s) for s in seconds]}
    if side == "peer":
        line["peer"] = peer
        line["values_checked"] = bool(values_checked)
    if workload:
        line["workload"] = workload
    if check:
        line["check"] = check
    if per:
        line["per"] = {"count": per[0], "unit": per[1]}
    if note:
        line["note"] = note
    with open(os.path.join(folder, f"{section}.jsonl"), "a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")
