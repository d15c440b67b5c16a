"""What a researcher would use instead: NumPy on the same inputs as basin-bench.

Checkpoint: numpy.savez of 50 float32 arrays (50M parameters) and numpy.load of all of
them (the closest NumPy analogue to Basin's checkpoint write/read; savez has no
checksums and no fsync, so it does less work). Also float32 matmul and float64 SVD, the
MLP training step and SVCCA. Timings are appended to $BASIN_BENCH_DIR/results for
bench/summary.py (format at its top).
"""
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchrecord import record

quick = "--quick" in sys.argv
parameters = 5_000_000 if quick else 50_000_000
count = 50
rng = np.random.default_rng(1)
arrays = {f"features.{i}.weight": rng.standard_normal((parameters // count // 1000, 1000), dtype=np.float32)
          for i in range(count)}
mb = parameters * 4 / 1e6


def times(n, f):
    out = []
    for _ in range(n):
        s = time.perf_counter()
        f()
        out.append(time.perf_counter() - s)
    return out


def best(n, f):
    return min(times(n, f))


peer = f"NumPy {np.__version__}"


def row(name, value):
    print(name.ljust(52) + value)


sections = {a for a in sys.argv[1:] if not a.startswith("--")}   # as basin-bench: all when none is named


def enabled(section):
    return not sections or section in sections


print(f"NumPy {np.__version__} reference")
print("-" * 72)
if enabled("checkpoint"):
    path = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "numpy-bench.npz")
    ws = times(3, lambda: np.savez(path, **arrays))
    w = min(ws)
    def load():
        with np.load(path) as z:
            for k in z.files:
                z[k]
    rs = times(3, load)
    r = min(rs)
    record("checkpoint", "write-none", ws, f"{peer} np.savez (no hash, no fsync)", False, per=(mb, "MB"))
    record("checkpoint", "read-none", rs, f"{peer} np.load of every array (no verification)", False, per=(mb, "MB"))
    row(f"np.savez, {parameters // 1_000_000}M params", f"{mb / w:7.0f} MB/s  ({w:.2f} s)")
    row(f"np.load (all arrays), {parameters // 1_000_000}M params", f"{mb / r:7.0f} MB/s  ({r:.2f} s)")
    os.remove(path)
if enabled("numerics"):
    for n in (256, 1024):
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        ts = times(5, lambda: a @ b)
        t = min(ts)
        record("numerics", f"sgemm-{n}", ts, f"{peer} matmul", False, per=(2 * n**3 / 1e9, "GFLOP"))
        row(f"np.matmul float32 {n}x{n}", f"{2 * n**3 / t / 1e9:7.1f} GFLOP/s ({t:.4f} s)")
    x = rng.standard_normal((2000, 256))
    ts = times(3, lambda: np.linalg.svd(x, full_matrices=False))
    t = min(ts)
    record("numerics", "svd-2000x256", ts, f"{peer} linalg.svd", False)
    row("np.linalg.svd 2000x256 float64", f"{t:7.3f} s")


if enabled("train"):
    # Training throughput of MLP 784-512-256-10 at batch 128 with a hand-written NumPy
    # forward/backward/SGD step (float32), the closest NumPy analogue of Basin's trainer step.
    sizes = [784, 512, 256, 10]
    ws = [rng.standard_normal((o, i), dtype=np.float32) * np.float32(np.sqrt(2 / i)) for i, o in zip(sizes, sizes[1:])]
    bs = [np.zeros(o, dtype=np.float32) for o in sizes[1:]]
    x = rng.random((128, 784), dtype=np.float32)
    y = rng.integers(0, 10, 128)


    def step():
        acts = [x]
        for k, (w, b) in enumerate(zip(ws, bs)):
            z = acts[-1] @ w.T + b
            acts.append(np.maximum(z, 0) if k < len(ws) - 1 else z)
        z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = p
        g[np.arange(128), y] -= 1
        g /= 128
        for k in range(len(ws) - 1, -1, -1):
            gw, gb = g.T @ acts[k], g.sum(axis=0)
            if k > 0:
                g = (g @ ws[k]) * (acts[k] > 0)
            ws[k] -= 0.01 * gw
            bs[k] -= 0.01 * gb


    steps = 30
    ts = times(3, lambda: [step() for _ in range(steps)])
    t = min(ts)
    record("train", f"train-mlp-784-512-256-10-{steps}x128", ts, f"{peer}, hand-written step (no momentum)", False,
           check="random data, values not compared", per=(steps * 128, "samples"))
    row("NumPy MLP 784-512-256-10 train, batch 128", f"{steps * 128 / t:7.0f} samples/s")

# SVCCA (issue 6) on the activations basin-bench wrote (same numbers, same algorithm):
# per layer, centre, thin SVD (np.linalg.svd, full_matrices=False), keep the fewest leading
# directions reaching 99% of the variance; per pair, the canonical correlations are the
# singular values of Ua_kᵀ·Ub_k (Björck–Golub), and the SVCCA similarity is their mean.
# "Per pair" is how researchers' scripts compute a heatmap (both SVDs redone for every cell);
# "reusing SVDs" decomposes each layer once, as Basin does. The per-pair route repeats the
# same work for every cell, so it is timed on a few cells and scaled to all of them
# (--svcca-all-pairs times every cell).
if not enabled("svcca"):
    sys.exit(0)
svcca_dir = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "basin-bench-svcca")
basin_json = os.path.join(svcca_dir, "basin.json")
print()
if not os.path.exists(basin_json):
    print(f"(no {basin_json}: run basin-bench first for the SVCCA comparison)")
    sys.exit(0)
import json

with open(basin_json) as f:
    basin = json.load(f)


def svcca_prepare(x, keep=0.99):
    x = x - x.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    e = s * s
    k = int(np.searchsorted(np.cumsum(e), keep * e.sum() * (1 - 1e-12))) + 1
    return u[:, :k]


def svcca_mean(ua, ub):
    rho = np.linalg.svd(ua.T @ ub, compute_uv=False)
    return float(np.clip(rho, 0, 1).mean())




def openblas_threads():
    """Sets the thread count of NumPy's bundled OpenBLAS through ctypes (what threadpoolctl
    does); returns a setter, or None when the library is not found."""
    import ctypes
    import glob
    for lib in glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libscipy_openblas*.so*")):
        try:
            so = ctypes.CDLL(lib)
            for symbol in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads"):
                if hasattr(so, symbol):
                    return getattr(so, symbol)
        except OSError:
            pass
    return None


layers = len(basin["heatmap"])
a = [np.load(os.path.join(svcca_dir, f"a{i}.npy")) for i in range(layers)]
b = [np.load(os.path.join(svcca_dir, f"b{j}.npy")) for j in range(layers)]
n, width = a[0].shape
# NumPy's OpenBLAS gesdd can be far slower with 2 threads than with 1 on a busy 2-core
# machine (threads spin while waiting for each other), so time one layer's SVD both ways and
# give NumPy the faster setting.
setter = openblas_threads()
threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "2"))
if setter is not None and threads > 1:
    trial = {}
    for t in (1, threads):
        setter(t)
        trial[t] = best(2, lambda: svcca_prepare(a[0]))
    threads = min(trial, key=trial.get)
    setter(threads)
    row("  NumPy OpenBLAS threads for SVCCA", f"{threads}  (one layer's SVD: " + ", ".join(f"{t} thr {v:.2f} s" for t, v in trial.items()) + ")")
cells = [(i, j) for i in range(layers) for j in range(layers)]
if "--svcca-all-pairs" not in sys.argv:
    cells = sorted({(0, 0), (layers // 2, layers // 2 - 1), (layers - 1, layers - 1)})
start = time.perf_counter()
per_pair = {(i, j): svcca_mean(svcca_prepare(a[i]), svcca_prepare(b[j])) for i, j in cells}
per_cell = (time.perf_counter() - start) / len(cells)
start = time.perf_counter()
ua = [svcca_prepare(x) for x in a]
ub = [svcca_prepare(x) for x in b]
prep = time.perf_counter() - start
reuse = [[svcca_mean(ua[i], ub[j]) for j in range(layers)] for i in range(layers)]
reuse_time = time.perf_counter() - start
basin_heatmap = basin["seconds"]["heatmap"]
label = f"{layers}x{layers}, {width} neurons, {n // 1000}k points"
row(f"SVCCA heatmap {label}, per pair", f"{per_cell * layers * layers:7.2f} s  ({per_cell:.2f} s/cell on {len(cells)} cells, scaled to {layers * layers})")
row(f"SVCCA heatmap {label}, reusing SVDs", f"{reuse_time:7.2f} s  (SVDs of {2 * layers} layers {prep:.2f} s)")
row("  Basin heatmap (from basin.json)", f"{basin_heatmap:7.2f} s  -> {per_cell * layers * layers / basin_heatmap:.1f}x vs per pair, "
    f"{reuse_time / basin_heatmap:.1f}x vs reusing SVDs")
diff = max(abs(reuse[i][j] - basin["heatmap"][i][j]) for i in range(layers) for j in range(layers))
diff_pp = max(abs(v - basin["heatmap"][i][j]) for (i, j), v in per_pair.items())
kept = sum(ua[i].shape[1] == basin["keptA"][i][j] and ub[j].shape[1] == basin["keptB"][i][j] for i, j in np.ndindex(layers, layers))
checked = diff <= 1e-6 and diff_pp <= 1e-6 and kept == layers * layers
record("svcca", f"heatmap-{layers}x{layers}", [per_cell * layers * layers], f"{peer}, google's algorithm, both SVDs per cell", checked,
       check=f"max |Δ| {max(diff, diff_pp):.0e}", note=f"timed on {len(cells)} cells, scaled")
record("svcca", f"heatmap-{layers}x{layers}", [reuse_time], f"{peer}, google's algorithm, SVD per layer reused", checked,
       check=f"max |Δ| {diff:.0e}")
row("  max |NumPy - Basin| over all cells", f"{diff:.2e}  (per-pair cells {diff_pp:.2e}; kept dims agree in {kept}/{layers * layers} cells)")
for i, j in [(0, 0), (0, layers - 1), (layers // 2, layers // 2 - 1), (layers - 1, layers - 1)]:
    row(f"  mean CCA cell (a{i}, b{j})", f"{reuse[i][j]:.12f}  (Basin {basin['heatmap'][i][j]:.12f})")

pa, pb = np.load(os.path.join(svcca_dir, "pair_a.npy")), np.load(os.path.join(svcca_dir, "pair_b.npy"))
start = time.perf_counter()
qa, qb = svcca_prepare(pa), svcca_prepare(pb)
pair = svcca_mean(qa, qb)
pair_time = time.perf_counter() - start
row(f"SVCCA pair {pa.shape[1]}x{n // 1000}k points, both sides", f"{pair_time:7.2f} s  (kept {qa.shape[1]}/{qb.shape[1]}; "
    f"Basin {basin['seconds']['pair']:.2f} s -> {pair_time / basin['seconds']['pair']:.1f}x)")
record("svcca", f"pair-{pa.shape[1]}", [pair_time], f"{peer}, google's algorithm", abs(pair - basin["pair"]) <= 1e-6,
       check=f"|Δ| {abs(pair - basin['pair']):.0e}")
row("  mean CCA pair", f"{pair:.12f}  (Basin {basin['pair']:.12f}, diff {abs(pair - basin['pair']):.1e})")
