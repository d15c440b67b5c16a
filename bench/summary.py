"""The one table of `make bench`: every workload, its peer, Basin, and Basin's speed relative
to the peer. Called last by the Makefile's bench target; reads what basin-bench and the
reference scripts wrote. Standard library only (runs without NumPy or PyTorch).

Record format (shared by every bench section; documented in docs/PERFORMANCE.md too)
-----------------------------------------------------------------------------------
Each side appends JSON Lines — one JSON object per line — to
`$BASIN_BENCH_DIR/results/<section>.jsonl` (section = checkpoint, numerics, train, landscape,
hessian, svcca, onnx, conv, io, …). basin-bench writes first, the Python references after it;
`make bench BENCH_ROUNDS=3` repeats the whole sequence, so every side appends its lines again
and the repetitions of Basin and its peers are interleaved process by process. Fields:

    key             str    the workload's identity; Basin's and its peers' lines with the same key
                           form one row per peer (required)
    side            str    "basin" or "peer" (required)
    workload        str    the row's label, e.g. "Hessian top-5 (Lanczos), MLP 784-512-256-10,
                           10 000 samples" (Basin's label wins; a peer's is used when Basin has none)
    seconds         [num]  wall-clock seconds of each repetition of the whole workload; both sides
                           time the same work on the same inputs (required, ≥ 1 value)
    peer            str    peer lines: who the peer is, e.g. "PyTorch 2.15 double backprop + same
                           Lanczos", "NumPy 2.4, google get_cca_similarity, SVD per layer reused"
    values_checked  bool   peer lines: the peer's results were compared with Basin's on the same
                           inputs before timing and agreed (false: not compared; the table says so)
    check           str    optional: what was compared and how close, e.g. "λ rel. diff ≤ 3e-6"
    per             {count: num, unit: str}
                           optional: the work of one repetition, e.g. {"count": 3840, "unit":
                           "samples"}; the table then also shows count/seconds (samples/s)
    note            str    optional: anything else for the row (peak memory, thread count)

The table shows medians with [min–max] ranges, and the ratio median(peer)/median(Basin) in the
last column: above 1, Basin is that many times faster. Lines with an unknown side or no seconds
are reported and skipped; a missing results directory prints a one-line note.
"""
import json
import os
import statistics
import sys
import tempfile

directory = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "results")


def load():
    """(section, record) for every valid line of every results file, in file and line order."""
    records, problems = [], []
    if not os.path.isdir(directory):
        return records, problems
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".jsonl"):
            continue
        section = name[:-len(".jsonl")]
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    seconds = [float(s) for s in r["seconds"]]
                    if r["side"] not in ("basin", "peer") or not seconds or not isinstance(r["key"], str):
                        raise ValueError("side must be basin or peer, seconds non-empty")
                except (ValueError, KeyError, TypeError) as e:
                    problems.append(f"{name}:{number}: {e}")
                    continue
                r["seconds"] = seconds
                records.append((section, r))
    return records, problems


def fmt_seconds(xs):
    m = statistics.median(xs)
    text = f"{m:.3g} s" if m < 100 else f"{m:.0f} s"
    if len(xs) > 1:
        text += f" [{min(xs):.3g}–{max(xs):.3g}]"
    return text


def fmt_side(r, xs):
    text = fmt_seconds(xs)
    per = r.get("per")
    if per and per.get("count"):
        rate = f"{per['count'] / statistics.median(xs):,.0f}".replace(",", " ")
        text += f", {rate} {per.get('unit', 'items')}/s"
    if r.get("note"):
        text += f" ({r['note']})"
    return text


def rows(records):
    """One row per (key, peer), in the order keys first appear; seconds of repeated lines pooled."""
    order, basin, peers, labels = [], {}, {}, {}
    for section, r in records:
        key = (section, r["key"])
        if key not in order:
            order.append(key)
        if r["side"] == "basin":
            b = basin.setdefault(key, dict(r, seconds=[]))
            b["seconds"] += r["seconds"]
            labels[key] = r.get("workload", labels.get(key, r["key"]))
        else:
            p = peers.setdefault(key, {}).setdefault(r.get("peer", "peer"), dict(r, seconds=[]))
            p["seconds"] += r["seconds"]
            p["values_checked"] = p.get("values_checked", False) and bool(r.get("values_checked", False))
            labels.setdefault(key, r.get("workload", r["key"]))
    out = []
    for key in order:
        b = basin.get(key)
        for name, p in (peers.get(key) or {None: None}).items():
            ratio = ""
            if b and p:
                value = statistics.median(p["seconds"]) / statistics.median(b["seconds"])
                ratio = f"{value:.2f}× faster" if value >= 1 else f"**{1 / value:.2f}× slower**"
                if not p.get("values_checked"):
                    ratio += " (values not compared)"
            peer_text = "—" if p is None else f"{name}: {fmt_side(p, p['seconds'])}"
            if p and p.get("check"):
                peer_text += f"; {p['check']}"
            out.append((labels[key], peer_text, fmt_side(b, b["seconds"]) if b else "—", ratio or "—"))
    return out


def main():
    records, problems = load()
    for p in problems:
        print(f"(bench/summary.py: skipped {p})", file=sys.stderr)
    if not records:
        print(f"(no benchmark records in {directory}: run basin-bench first)")
        return
    print()
    print("Summary: Basin beside its peers (median [range] of the repetitions; ratio = peer time / Basin time)")
    print()
    print("| workload | peer | Basin | Basin's speed relative to the peer |")
    print("|---|---|---|---|")
    for r in rows(records):
        print("| " + " | ".join(c.replace("|", "/") for c in r) + " |")


if __name__ == "__main__":
    main()
