"""Measures what one landscape point of a ResNet-18 costs Basin on this machine, for the worked
estimate in docs/SCALING.md (issue 15).

A torchvision-style ResNet-18 with the CIFAR stem (BasicBlocks [2, 2, 2, 2], base width 64,
11.2M parameters) on 3×32×32 inputs is exported to ONNX (fixtures/pytorch-run/snippet.py's
export), imported with `analyze import`, and `analyze barrier` evaluates it at 3 and at 7 points
on N training and N/4 validation images (random data: the cost does not depend on the values).
The difference of the two runs is 4 points with the fixed costs (start-up, loading, the plan)
cancelled; one point is one pass over the training images to recompute BN statistics (the
default `--bn recompute`) plus the loss on the training and validation images.

    python3 bench/resnet18_point_cost.py [N]        # N training images, default 1000

Needs torch, onnx and the release build (`swift build -c release`).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures", "pytorch-run"))
from make_run import ResNet18  # noqa: E402
from snippet import export_graph  # noqa: E402

n_train = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
n_val = n_train // 4
analyze = os.path.join(HERE, "..", ".build", "release", "analyze")
threads = os.environ.get("OPENBLAS_NUM_THREADS", "2")
folder = tempfile.mkdtemp(prefix="basin-r18-")
torch.manual_seed(0)
model = ResNet18(width=64, classes=10).eval()
parameters = sum(p.numel() for p in model.parameters())
export_graph(model, torch.zeros(2, 3, 32, 32), folder)
rng = np.random.default_rng(0)
for split, n in [("train", n_train), ("val", n_val)]:
    np.save(os.path.join(folder, f"{split}-X.npy"), rng.normal(size=(n, 3, 32, 32)).astype(np.float32))
    np.save(os.path.join(folder, f"{split}-y.npy"), rng.integers(0, 10, n).astype(np.int64))
subprocess.run([analyze, "import", os.path.join(folder, "model.onnx"), "--out", os.path.join(folder, "w.ckpt")], check=True,
               capture_output=True)


def barrier(points):
    args = [analyze, "barrier", "--a", "w.ckpt", "--b", "w.ckpt", "--points", str(points), "--quiet", "--threads", threads,
            "--data", "npy:train-X.npy,train-y.npy", "--val-data", "npy:val-X.npy,val-y.npy",
            "--out", f"out-{points}", "--force"]
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, cwd=folder)
    return time.perf_counter() - start


barrier(3)  # warm the page cache
times = {p: [] for p in (3, 7)}
for _ in range(2):
    for p in (3, 7):
        times[p].append(barrier(p))
per_point = (min(times[7]) - min(times[3])) / 4
passes = 2 * n_train + n_val  # BN recomputation + training loss + validation loss
result = {"parameters": parameters, "train_images": n_train, "val_images": n_val, "threads": int(threads),
          "seconds_3_points": times[3], "seconds_7_points": times[7], "seconds_per_point": per_point,
          "images_per_second": passes / per_point}
print(json.dumps(result, indent=1))
print(f"ResNet-18 ({parameters / 1e6:.1f}M parameters), 3×32×32: {per_point:.2f} s per landscape point over "
      f"{n_train} + {n_val} images = {passes / per_point:.0f} image-forwards/s with {threads} threads")
