"""Checkpoint I/O beside PyTorch (issue 14, item 4): torch.save + fsync and torch.load against
Basin's CheckpointWriter (with SHA-256 per entry, atomic rename, fsync) and CheckpointReader
(every entry verified), on the same tensors, interleaved.

Each repetition runs `basin-bench checkpoint-round` (one plain write + read of 50 float32
tensors, 50M parameters; it leaves the checkpoint in $BASIN_BENCH_DIR/basin-bench-io/basin.ckpt
and prints its timings), then times torch.save + fsync and torch.load of the tensors that
checkpoint holds. Before timing, the values torch.load returns are checked equal to the ones in
Basin's file (read here with tarfile + numpy, independently of Basin).

    python3 bench/torch_io_reference.py [--quick] [--repeats N]

BASIN_BENCH_BIN names the basin-bench binary (default .build/release/basin-bench).
"""
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time

import numpy as np
from benchrecord import record

try:
    import torch
except ImportError:  # the Makefile runs this only when torch imports
    print("torch_io_reference: torch is not installed; skipped")
    sys.exit(0)

args = sys.argv[1:]
sections = [a for a in args if not a.startswith("--") and not a.isdigit()]
if sections and "checkpoint" not in sections:
    sys.exit(0)
quick = "--quick" in args
repeats = 5
if "--repeats" in args:
    repeats = int(args[args.index("--repeats") + 1])
torch.set_num_threads(min(2, int(os.environ.get("OPENBLAS_NUM_THREADS", "2"))))
directory = os.environ.get("BASIN_BENCH_DIR", "/tmp/basin-bench")
os.makedirs(directory, exist_ok=True)
binary = os.environ.get("BASIN_BENCH_BIN", os.path.join(os.path.dirname(__file__), "..", ".build", "release", "basin-bench"))
folder = os.path.join(directory, "basin-bench-io")
checkpoint = os.path.join(folder, "basin.ckpt")
torch_path = os.path.join(folder, "torch.pt")


def basin_round():
    extra = ["--quick"] if quick else []
    out = subprocess.run([binary, "checkpoint-round", *extra], check=True, capture_output=True, text=True,
                         env=dict(os.environ, BASIN_BENCH_DIR=directory)).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def basin_tensors():
    """The tensors in Basin's checkpoint, read with tarfile + numpy (manifest order)."""
    with tarfile.open(checkpoint) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        return {r["name"]: torch.from_numpy(np.load(io.BytesIO(tar.extractfile(r["entry"]).read())))
                for r in manifest["tensors"]}


def torch_save(state):
    with open(torch_path, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())


def torch_load():
    return torch.load(torch_path, weights_only=True)


first = basin_round()
state = basin_tensors()
torch_save(state)
loaded = torch_load()
assert list(loaded) == list(state) and all(torch.equal(loaded[k], state[k]) for k in state), "torch.load differs from Basin's file"
parameters = sum(t.numel() for t in state.values())
assert parameters == first["parameters"], (parameters, first)
del loaded

basin_w, basin_r, torch_w, torch_r = [], [], [], []
cpu = {"basin_w": [], "basin_r": [], "torch_w": [], "torch_r": []}
for _ in range(repeats):
    r = basin_round()
    basin_w.append(r["write"]); basin_r.append(r["read"])
    cpu["basin_w"].append(r.get("write_cpu", float("nan"))); cpu["basin_r"].append(r.get("read_cpu", float("nan")))
    c = time.process_time(); t = time.perf_counter(); torch_save(state)
    torch_w.append(time.perf_counter() - t); cpu["torch_w"].append(time.process_time() - c)
    c = time.process_time(); t = time.perf_counter(); loaded = torch_load()
    torch_r.append(time.perf_counter() - t); cpu["torch_r"].append(time.process_time() - c)
    del loaded


def spread(xs):
    return f"{statistics.median(xs):.3f} s [{min(xs):.3f}–{max(xs):.3f}]"


mb = parameters * 4 / 1e6
print(f"Checkpoint I/O, {parameters / 1e6:.0f}M float32 parameters in {len(state)} tensors ({mb:.0f} MB), "
      f"{repeats} interleaved repetitions, torch {torch.__version__}")
print(f"{'':34}{'PyTorch':>28}{'Basin':>28}   Basin's speed")
for name, t, b, k in [("write + fsync (torch.save)", torch_w, basin_w, "w"), ("read + verify (torch.load)", torch_r, basin_r, "r")]:
    ratio = statistics.median(t) / statistics.median(b)
    print(f"{name:34}{spread(t):>28}{spread(b):>28}   {ratio:.2f}×")
    # CPU time (all threads) is steadier than wall time on a shared machine.
    tc, bc = statistics.median(cpu["torch_" + k]), statistics.median(cpu["basin_" + k])
    print(f"{'  CPU time, median':34}{tc:>26.3f} s{bc:>26.3f} s")
    what = {"w": ("write + fsync (SHA-256 of every entry)", "torch.save + fsync (no hash)"),
            "r": ("read + verify (SHA-256 of every entry)", "torch.load(weights_only=True) (no verification)")}[k]
    workload = f"checkpoint {what[0]}, {parameters / 1e6:.0f}M float32 params, interleaved with PyTorch"
    record("checkpoint-torch", "torch-" + k, b, None, True, workload=workload, per=(round(mb), "MB"), side="basin",
           note=f"CPU {bc:.3f} s (median, all threads)")
    record("checkpoint-torch", "torch-" + k, t, f"PyTorch {torch.__version__.split('+')[0]}, {what[1]}", True,
           check="torch.load of Basin's tensors equal to Basin's", per=(round(mb), "MB"), note=f"CPU {tc:.3f} s")
for p in (checkpoint, torch_path):
    if os.path.exists(p):
        os.remove(p)
