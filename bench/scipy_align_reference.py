"""NumPy/SciPy reference for basin-bench's `align` section (issue 16).

What a researcher runs today: git-re-basin's `weight_matching` (Ainsworth et al. 2023,
samuela/git-re-basin) — for each permutation group in turn, the similarity Σ over the group's
axes of W_A(unit i) · π₋(W_B)(unit j) as NumPy float64 products of the tensors with the axis
moved first, then `scipy.optimize.linear_sum_assignment(…, maximize=True)`, keeping the new
permutation only if it improves the objective, until a sweep changes nothing — on the tensors
basin-bench wrote to $BASIN_BENCH_DIR/basin-bench-align/<model>/ (a.*.npy, b.*.npy), with the
permutation groups and the per-sweep group orders Basin used (basin.json), so both follow the
same path. Checked before timing: the same permutations as Basin's. Also one dense 512×512
`linear_sum_assignment` against Basin's solver on the same scores (same total).

Timings go to $BASIN_BENCH_DIR/results/align.jsonl for bench/summary.py. Skips with one line
when SciPy is missing or basin-bench has not written its files.
"""
import json
import os
import sys
import tempfile
import time

try:
    import numpy as np
    import scipy
    from scipy.optimize import linear_sum_assignment
except ImportError:
    print("(NumPy or SciPy not installed: skipping the SciPy alignment reference)")
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchrecord import record

bench_dir = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "basin-bench-align")
sections = {a for a in sys.argv[1:] if not a.startswith("--")}
quick = "--quick" in sys.argv
peer = f"NumPy {np.__version__} + SciPy {scipy.__version__} linear_sum_assignment (git-re-basin weight_matching)"
if sections and "align" not in sections:
    sys.exit(0)
if not os.path.isdir(bench_dir):
    print(f"(no {bench_dir}: run basin-bench align first for the SciPy reference)")
    sys.exit(0)


def row(name, value):
    print(name.ljust(52) + value)


def permute(t, axis, block, perm):
    """Unit i of the result along `axis` is unit perm[i] of t (units of `block` entries)."""
    shape = t.shape
    units = len(perm)
    r = t.reshape(shape[:axis] + (units, block) + shape[axis + 1:])
    return np.take(r, perm, axis=axis).reshape(shape)


def weight_matching(spec, a, b, orders):
    groups = spec["groups"]
    axes_of = {}
    for g, group in enumerate(groups):
        for ax in group["axes"]:
            axes_of.setdefault(ax["tensor"], []).append((g, ax["axis"], ax["block"]))
    perms = [np.arange(group["size"]) for group in groups]

    def permuted(name, skip_axis):
        t = b[name]
        for g, axis, block in axes_of.get(name, []):
            if axis != skip_axis:
                t = permute(t, axis, block, perms[g])
        return t

    def units_first(t, axis, block, units):
        shape = t.shape
        r = t.reshape(shape[:axis] + (units, block) + shape[axis + 1:])
        return np.moveaxis(r, axis, 0).reshape(units, -1)

    sweeps = 0
    for order in orders:
        sweeps += 1
        changed = False
        for g in order:
            n = groups[g]["size"]
            s = np.zeros((n, n))
            for ax in groups[g]["axes"]:
                name = ax["tensor"]
                if name not in a:
                    continue
                wa = units_first(a[name], ax["axis"], ax["block"], n)
                wb = units_first(permuted(name, ax["axis"]), ax["axis"], ax["block"], n)
                s += wa @ wb.T
            old = s[np.arange(n), perms[g]].sum()
            _, cols = linear_sum_assignment(s, maximize=True)
            new = s[np.arange(n), cols].sum()
            if new > old + 1e-12 * max(1.0, abs(old)):
                perms[g] = cols
                changed = True
        if not changed:
            break
    return perms, sweeps


for model in ["mlp", "vgg16"]:
    folder = os.path.join(bench_dir, model)
    path = os.path.join(folder, "basin.json")
    if not os.path.exists(path):
        continue
    with open(path) as f:
        basin = json.load(f)
    spec = basin["groups"]
    a, b = {}, {}
    for file in os.listdir(folder):
        if file.endswith(".npy") and file[:2] in ("a.", "b."):
            (a if file[0] == "a" else b)[file[2:-4]] = np.load(os.path.join(folder, file)).astype(np.float64)
    perms, sweeps = weight_matching(spec, a, b, basin["orders"])
    same = all(list(p) == q for p, q in zip(perms, basin["permutations"]))
    if not same:
        sys.exit(f"{model}: SciPy's weight matching found other permutations than Basin's: not timing the same computation")
    times = []
    for _ in range(1 if quick else 3):
        start = time.perf_counter()
        weight_matching(spec, a, b, basin["orders"])
        times.append(time.perf_counter() - start)
    row(f"align (weight matching), {model}, NumPy + SciPy", f"{np.median(times):7.2f} s  ({sweeps} sweeps, same permutations)")
    record("align", f"weights-{model}", times, peer, True, check=f"identical permutations, {sweeps} sweeps in Basin's group order")

scores_path = os.path.join(bench_dir, "lap-scores.npy")
if os.path.exists(scores_path):
    scores = np.load(scores_path)
    n = int(round(len(scores) ** 0.5))
    m = scores.reshape(n, n)
    ours = np.load(os.path.join(bench_dir, "lap-assignment.npy")).astype(int)
    _, cols = linear_sum_assignment(m, maximize=True)
    gap = abs(m[np.arange(n), cols].sum() - m[np.arange(n), ours].sum())
    ok = gap <= 1e-9 * n
    times = []
    for _ in range(1 if quick else 5):
        start = time.perf_counter()
        linear_sum_assignment(m, maximize=True)
        times.append(time.perf_counter() - start)
    row(f"linear assignment {n}×{n}, scipy", f"{np.median(times):7.3f} s  (|Δ total| vs Basin {gap:.1e})")
    record("align", f"lap-{n}", times, f"SciPy {scipy.__version__} linear_sum_assignment", ok, check=f"same optimal total (|Δ| {gap:.0e})")
