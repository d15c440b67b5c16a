"""What a researcher would use instead: NumPy on the same inputs as basin-bench.

Checkpoint: numpy.savez of 50 float32 arrays (50M parameters) and numpy.load of all of
them (the closest NumPy analogue to Basin's checkpoint write/read; savez has no
checksums and no fsync, so it does less work). Also float32 matmul and float64 SVD.
"""
import os
import sys
import tempfile
import time

import numpy as np

quick = "--quick" in sys.argv
parameters = 5_000_000 if quick else 50_000_000
count = 50
rng = np.random.default_rng(1)
arrays = {f"features.{i}.weight": rng.standard_normal((parameters // count // 1000, 1000), dtype=np.float32)
          for i in range(count)}
mb = parameters * 4 / 1e6


def best(n, f):
    t = float("inf")
    for _ in range(n):
        s = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - s)
    return t


def row(name, value):
    print(name.ljust(52) + value)


print(f"NumPy {np.__version__} reference")
print("-" * 72)
path = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "numpy-bench.npz")
w = best(3, lambda: np.savez(path, **arrays))
def load():
    with np.load(path) as z:
        for k in z.files:
            z[k]
r = best(3, load)
row(f"np.savez, {parameters // 1_000_000}M params", f"{mb / w:7.0f} MB/s  ({w:.2f} s)")
row(f"np.load (all arrays), {parameters // 1_000_000}M params", f"{mb / r:7.0f} MB/s  ({r:.2f} s)")
os.remove(path)
for n in (256, 1024):
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    t = best(5, lambda: a @ b)
    row(f"np.matmul float32 {n}x{n}", f"{2 * n**3 / t / 1e9:7.1f} GFLOP/s ({t:.4f} s)")
x = rng.standard_normal((2000, 256))
t = best(3, lambda: np.linalg.svd(x, full_matrices=False))
row("np.linalg.svd 2000x256 float64", f"{t:7.3f} s")

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
t = best(3, lambda: [step() for _ in range(steps)])
row("NumPy MLP 784-512-256-10 train, batch 128", f"{steps * 128 / t:7.0f} samples/s")
