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
# (not in a child process of the SVCCA comparison, whose peak memory is measured)
arrays = {f"features.{i}.weight": rng.standard_normal((parameters // count // 1000, 1000), dtype=np.float32)
          for i in range(count)} if not any(a.startswith("--svcca-child=") for a in sys.argv) else {}
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
    # A child process of the SVCCA comparison (below) runs nothing else.
    if any(a.startswith("--svcca-child=") for a in sys.argv):
        return False
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


    steps = 75 if quick else 300
    ts = times(3, lambda: [step() for _ in range(steps)])
    t = min(ts)
    record("train", f"train-mlp-784-512-256-10-{steps}x128", ts, f"{peer}, hand-written step (no momentum)", False,
           check="random data, values not compared", per=(steps * 128, "samples"))
    row("NumPy MLP 784-512-256-10 train, batch 128", f"{steps * 128 / t:7.0f} samples/s")

# SVCCA (issues 6, 14) on the activations basin-bench wrote (same numbers): what a researcher
# runs is google/svcca's tutorial (github.com/google/svcca, tutorials/001_Introduction.ipynb):
# per layer, centre, np.linalg.svd, keep the leading directions (here: the fewest reaching 99% of
# the variance, Basin's rule), svacts = diag(s_k)·V_k; per cell cca_core.get_cca_similarity(
# svacts_a, svacts_b, epsilon=1e-10) and the SVCCA similarity is the mean of its "cca_coef1".
# `get_cca_similarity` below is cca_core's arithmetic transcribed (Apache 2.0; np.cov, rescaling,
# remove_small, pinv, eigh square roots, SVD; the coefficient bookkeeping it also does by
# default is kept). Two routes, both labelled in the output:
# - "SVD reused per layer": each layer decomposed once, then the 100 cells (what researchers run
#   for a heatmap);
# - "SVD per cell": both SVDs redone in every cell (timed on a few cells, scaled; all with
#   --svcca-all-pairs).
# Each route runs in a child process (python3 numpy_reference.py --svcca-child=ROUTE) so that its
# peak resident memory is its own; the values are checked against Basin's before the timings
# are compared.
if not enabled("svcca") and not any(a.startswith("--svcca-child=") for a in sys.argv):
    sys.exit(0)
import json
import resource
import subprocess

svcca_dir = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "basin-bench-svcca")
basin_json = os.path.join(svcca_dir, "basin.json")


def positivedef_matrix_sqrt(array):
    w, v = np.linalg.eigh(array)
    wsqrt = np.sqrt(w)
    return np.dot(v, np.dot(np.diag(wsqrt), np.conj(v).T))


def get_cca_similarity(acts1, acts2, epsilon=0., threshold=0.98):
    """google/svcca cca_core.get_cca_similarity (compute_coefs=True, compute_dirns=False)."""
    numx, numy = acts1.shape[0], acts2.shape[0]
    covariance = np.cov(acts1, acts2)
    sigmaxx = covariance[:numx, :numx]
    sigmaxy = covariance[:numx, numx:]
    sigmayx = covariance[numx:, :numx]
    sigmayy = covariance[numx:, numx:]
    xmax, ymax = np.max(np.abs(sigmaxx)), np.max(np.abs(sigmayy))
    sigmaxx /= xmax
    sigmayy /= ymax
    sigmaxy /= np.sqrt(xmax * ymax)
    sigmayx /= np.sqrt(xmax * ymax)
    x_idxs = np.abs(np.diagonal(sigmaxx)) >= epsilon
    y_idxs = np.abs(np.diagonal(sigmayy)) >= epsilon
    sigmaxx = sigmaxx[x_idxs][:, x_idxs]
    sigmaxy = sigmaxy[x_idxs][:, y_idxs]
    sigmayy = sigmayy[y_idxs][:, y_idxs]
    sigmaxx += epsilon * np.eye(sigmaxx.shape[0])
    sigmayy += epsilon * np.eye(sigmayy.shape[0])
    invsqrt_xx = positivedef_matrix_sqrt(np.linalg.pinv(sigmaxx))
    invsqrt_yy = positivedef_matrix_sqrt(np.linalg.pinv(sigmayy))
    arr = np.dot(invsqrt_xx, np.dot(sigmaxy, invsqrt_yy))
    u, s, v = np.linalg.svd(arr)
    s = np.abs(s)
    # compute_coefs bookkeeping (as cca_core does by default)
    x_mask = np.dot(x_idxs.reshape((-1, 1)), x_idxs.reshape((1, -1)))
    full_coef_x = np.zeros((numx, numx))
    np.place(full_coef_x, x_mask, u.T)
    y_mask = np.dot(y_idxs.reshape((-1, 1)), y_idxs.reshape((1, -1)))
    full_coef_y = np.zeros((numy, numy))
    np.place(full_coef_y, y_mask, v)
    np.mean(acts1, axis=1, keepdims=True), np.mean(acts2, axis=1, keepdims=True)
    return {"cca_coef1": s}


def sv_reduce(x, keep=0.99):
    """The tutorial's SV reduction of a [datapoints, neurons] layer: [k, datapoints]."""
    cacts = x.T - np.mean(x.T, axis=1, keepdims=True)
    _, s, v = np.linalg.svd(cacts, full_matrices=False)
    e = s * s
    k = int(np.searchsorted(np.cumsum(e), keep * e.sum() * (1 - 1e-12))) + 1
    return s[:k, None] * v[:k]


def svcca(sa, sb):
    return float(np.mean(get_cca_similarity(sa, sb, epsilon=1e-10)["cca_coef1"]))


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


def svcca_child(route, layers, out):
    """One peer route in this process; writes values, time and peak memory to out."""
    setter = openblas_threads()
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "2"))
    if setter is not None:
        setter(threads)
    result = {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    if route == "pair":
        pa, pb = np.load(os.path.join(svcca_dir, "pair_a.npy")), np.load(os.path.join(svcca_dir, "pair_b.npy"))
        start = time.perf_counter()
        ra, rb = sv_reduce(pa), sv_reduce(pb)
        result["values"] = {"0,0": svcca(ra, rb)}
        result["kept"] = [ra.shape[0], rb.shape[0]]
    else:
        a = [np.load(os.path.join(svcca_dir, f"a{i}.npy")) for i in range(layers)]
        b = [np.load(os.path.join(svcca_dir, f"b{j}.npy")) for j in range(layers)]
        start = time.perf_counter()
        if route == "reuse":
            ra, rb = [sv_reduce(x) for x in a], [sv_reduce(x) for x in b]
            result["values"] = {f"{i},{j}": svcca(ra[i], rb[j]) for i in range(layers) for j in range(layers)}
        else:
            cells = [(i, j) for i in range(layers) for j in range(layers)]
            if "--svcca-all-pairs" not in sys.argv:
                cells = sorted({(0, 0), (layers // 2, layers // 2 - 1), (layers - 1, layers - 1)})
            result["values"] = {f"{i},{j}": svcca(sv_reduce(a[i]), sv_reduce(b[j])) for i, j in cells}
            result["cells"] = len(cells)
    result["seconds"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpuSeconds"] = usage.ru_utime + usage.ru_stime - cpu
    if route == "per-cell":
        result["seconds"] *= layers * layers / result["cells"]
        result["cpuSeconds"] *= layers * layers / result["cells"]
    # VmHWM, not ru_maxrss: that keeps the forking parent's high-water mark across exec.
    with open("/proc/self/status") as f:
        result["peakMB"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
    with open(out, "w") as f:
        json.dump(result, f)


child = next((a for a in sys.argv if a.startswith("--svcca-child=")), None)
if child is not None:
    route, layers, out = child[len("--svcca-child="):].split(",", 2)
    svcca_child(route, int(layers), out)
    sys.exit(0)

print()
if not os.path.exists(basin_json):
    print(f"(no {basin_json}: run basin-bench first for the SVCCA comparison)")
    sys.exit(0)
with open(basin_json) as f:
    basin = json.load(f)
layers = len(basin["heatmap"]["float64"])
n, width = np.load(os.path.join(svcca_dir, "a0.npy"), mmap_mode="r").shape
print(f"SVCCA: google/svcca's get_cca_similarity on NumPy {np.__version__}, OpenBLAS threads "
      f"{os.environ.get('OPENBLAS_NUM_THREADS', '2')}, each route in its own process")
peer = {}
for route in ("reuse", "per-cell", "pair"):
    out = os.path.join(svcca_dir, f"numpy-{route}.json")
    subprocess.run([sys.executable, os.path.abspath(__file__), f"--svcca-child={route},{layers},{out}"]
                   + [a for a in sys.argv[1:] if a == "--svcca-all-pairs"], check=True)
    with open(out) as f:
        peer[route] = json.load(f)

# Values first: every cell the peer computed against each of Basin's product routes.
precisions = [p for p in ("int8", "float64", "float32") if p in basin["heatmap"]]
default = precisions[0]
for route in ("reuse", "per-cell"):
    for precision in precisions:
        d = max(abs(v - basin["heatmap"][precision][int(k.split(",")[0])][int(k.split(",")[1])]) for k, v in peer[route]["values"].items())
        row(f"  max |google − Basin {precision}| ({route}, {len(peer[route]['values'])} cells)", f"{d:.1e}")
for precision in precisions:
    row(f"  |google − Basin {precision}| pair", f"{abs(peer['pair']['values']['0,0'] - basin['pair'][precision]):.1e}")

label = f"{layers}x{layers}, {width} neurons, {n // 1000}k points"
bs, bc, bm = basin["seconds"], basin["cpuSeconds"], basin["peakMB"]


def compare(name, peer_result, job, note=""):
    t, c = peer_result["seconds"], peer_result["cpuSeconds"]
    row(name, f"{t:7.2f} s  (CPU {c:.1f} s, peak {peer_result['peakMB']:.0f} MB){note}")
    # The summary table's row: Basin's default route (int8 slices for the heatmap; a single pair
    # runs float64, int8 there is the same route) against this peer route.
    cells = [(int(k.split(",")[0]), int(k.split(",")[1]), v) for k, v in peer_result["values"].items()]
    reference = basin["heatmap"][default] if job == "heatmap" else [[basin["pair"]["float64"]]]
    worst = max(abs(v - reference[i][j]) for i, j, v in cells)
    record("svcca", job, [t], f"NumPy {np.__version__}, google's algorithm: {name.split(', google')[-1].strip(', ') or 'one pair'}", worst <= 1e-6,
           check=f"max |Δ| {worst:.0e}", note=note.strip() or None)
    for precision in precisions:
        key = f"{job}-{precision}"
        row(f"  Basin {precision} products", f"{bs[key]:7.2f} s  (CPU {bc[key]:.1f} s, peak {bm[key]:.0f} MB): "
            f"{t / bs[key]:.1f}x faster, {c / bc[key]:.1f}x less CPU")


compare(f"SVCCA heatmap {label}, google, SVD reused per layer", peer["reuse"], "heatmap")
compare(f"SVCCA heatmap {label}, google, SVD per cell", peer["per-cell"], "heatmap",
        f"  scaled from {peer['per-cell']['cells']} cells")
pair_width = np.load(os.path.join(svcca_dir, "pair_a.npy"), mmap_mode="r").shape[1]
compare(f"SVCCA pair {pair_width}x{n // 1000}k points ({basin['pairKept'][0]}/{basin['pairKept'][1]} kept), google",
        peer["pair"], "pair")
