"""PyTorch reference for basin-bench's conv section (issue 14, item 1).

Loads the shallow CNN (paper 000: Conv 1→32 5×5 pad 2, MaxPool 2, ReLU, Conv 32→64 5×5 pad 2,
MaxPool 2, ReLU, Linear 3136→256, ReLU, Linear 256→128, Linear 128→10), the batch of 128
1×28×28 inputs, labels and the direction v that basin-bench wrote to
$BASIN_BENCH_DIR/basin-bench-conv, checks that PyTorch's loss, gradient and Hessian-vector
product equal Basin's, then times, interleaved round by round with `basin-bench conv-round`,
SGD steps (momentum 0.9) and exact HVPs (double backprop, as PyHessian) in samples/s.
Prints medians, ranges and Basin's speed relative to PyTorch. Skips when torch is missing.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

try:
    import torch
except ImportError:
    print("(PyTorch not installed: skipping the PyTorch convolution reference)")
    sys.exit(0)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchrecord import record

directory = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "basin-bench-conv")
if not os.path.exists(os.path.join(directory, "basin.json")):
    print(f"(no {directory}/basin.json: run basin-bench conv first for the PyTorch convolution reference)")
    sys.exit(0)
with open(os.path.join(directory, "basin.json")) as f:
    basin = json.load(f)
threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "2"))
torch.set_num_threads(threads)
rounds = int(os.environ.get("CONV_BENCH_ROUNDS", "5"))
steps = basin["steps"]
binary = os.environ.get("BASIN_BENCH_BINARY", ".build/release/basin-bench")


def load(name):
    return torch.tensor(np.load(os.path.join(directory, name + ".npy")), dtype=torch.float32)


names = basin["parameters"]
x, y = load("inputs"), load("labels").long()
batch = x.shape[0]
F = torch.nn.functional


def network():
    m = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 5, padding=2), torch.nn.MaxPool2d(2), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 5, padding=2), torch.nn.MaxPool2d(2), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(3136, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.Linear(128, 10))
    # Basin's names: features.{0,3}, classifier.{0,2,3}; PyTorch's Sequential: 0, 3, 7, 9, 10.
    mapping = {"features.0": "0", "features.3": "3", "classifier.0": "7", "classifier.2": "9", "classifier.3": "10"}
    state = {}
    for name in names:
        module, _, kind = name.rpartition(".")
        state[mapping[module] + "." + kind] = load(name)
    m.load_state_dict(state)
    return m


def relative(a, b):
    return float((a - b).norm() / b.norm())


model = network()
params = list(model.parameters())
sizes = [p.numel() for p in params]
v_flat = load("direction")
v = [t.view_as(p) for t, p in zip(v_flat.split(sizes), params)]


def hvp():
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    hv = torch.autograd.grad(grads, params, grad_outputs=v)
    return loss, grads, hv


loss, grads, hv = hvp()
g = torch.cat([t.reshape(-1) for t in grads]).detach()
h = torch.cat([t.reshape(-1) for t in hv])
errors = (abs(float(loss.detach()) - basin["loss"]), relative(g, load("gradient")), relative(h, load("hvp")))
print(f"PyTorch {torch.__version__} convolution reference, {threads} threads (oneDNN: {torch.backends.mkldnn.is_available()})")
print(f"  values vs Basin: |Δloss| {errors[0]:.2e}, gradient rel. error {errors[1]:.2e}, Hv rel. error {errors[2]:.2e}")
if errors[0] > 1e-4 or errors[1] > 1e-3 or errors[2] > 1e-2:
    print("  PyTorch and Basin disagree: not timing different computations")
    sys.exit(1)

optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def train_step():
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def torch_round():
    train_step()
    hvp()
    start = time.perf_counter()
    for _ in range(steps):
        train_step()
    train = batch * steps / (time.perf_counter() - start)
    n = max(1, steps // 2)
    start = time.perf_counter()
    for _ in range(n):
        hvp()
    return train, batch * n / (time.perf_counter() - start)


def basin_round():
    out = subprocess.run([binary, "conv-round"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["train"], r["hvp"]


if not os.path.exists(binary):
    print(f"  ({binary} not built: PyTorch timings only)")
results = {"torch": [], "basin": []}
for _ in range(rounds):
    results["torch"].append(torch_round())
    if os.path.exists(binary):
        results["basin"].append(basin_round())


def summary(values):
    s = sorted(values)
    return s[len(s) // 2], s[0], s[-1]


for k, label in [(0, "train shallow-cnn 1x28x28, batch 128"), (1, "HVP shallow-cnn 1x28x28, batch 128")]:
    t = summary([r[k] for r in results["torch"]])
    line = f"  {label:40s} PyTorch {t[0]:6.0f} samples/s ({t[1]:.0f}–{t[2]:.0f})"
    if results["basin"]:
        b = summary([r[k] for r in results["basin"]])
        line += f"   Basin {b[0]:6.0f} ({b[1]:.0f}–{b[2]:.0f})   Basin/PyTorch {b[0] / t[0]:.2f}×"
    print(line)

# For bench/summary.py: seconds per round's work (train: `steps` batches; HVP: steps // 2 batches).
peer = f"PyTorch {torch.__version__.split('+')[0]} ({threads} threads, oneDNN), " + "{}"
for k, key, work, how in [(0, "torch-train", steps, "loss.backward() + optim.SGD"), (1, "torch-hvp", max(1, steps // 2), "double backward")]:
    label = ["training step (SGD, momentum), shallow-cnn 1x28x28", "Hessian-vector product, shallow-cnn 1x28x28"][k] + f", {work} × batch {batch}, interleaved with PyTorch"
    seconds = lambda rs: [batch * work / r[k] for r in rs]
    if results["basin"]:
        record("conv", key, seconds(results["basin"]), None, True, workload=label, per=(batch * work, "samples"), side="basin")
    record("conv", key, seconds(results["torch"]), peer.format(how), True,
           check=f"loss {errors[0]:.0e}, gradient {errors[1]:.0e}, Hv {errors[2]:.0e} relative to Basin's", per=(batch * work, "samples"))
