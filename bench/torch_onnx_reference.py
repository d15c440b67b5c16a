"""PyTorch CPU reference for basin-bench's ONNX section (issue 13).

The same two networks as `basin-bench onnx` — Basin's ResNet-20 (fixtures/onnx/
basin-resnet20.onnx, defined in fixtures/onnx/make_bench_graphs.py) and the ResNet-18-style
fixture (fixtures/onnx/resnet18.onnx, defined in fixtures/onnx/make_fixtures.py) — as PyTorch
modules holding the weights read from the .onnx initializers (onnx.numpy_helper; an Identity
node's output gets its source's values, as the exporter shares equal tensors), in eval mode.
Inputs, labels and HVP directions are the ones basin-bench wrote to
$BASIN_BENCH_DIR/basin-bench-onnx. Logits, loss gradient and the HVP of PyTorch (float32) and
of Basin (its saved values) are first checked against PyTorch in float64 (‖a − b‖ / ‖b‖ ≤ 1e-3;
float32 rounding alone is ≈ 1e-4 on ResNet-20's HVP), then timed at the same batch, median of
3 interleaved runs:

- forward+backward: `loss = F.cross_entropy(model(x), y); loss.backward()` (grads set to None first);
- HVP by double backward, as PyHessian does: `g = torch.autograd.grad(loss, params,
  create_graph=True)`, then `torch.autograd.grad(g, params, grad_outputs=v)`;
- HVP by forward-over-reverse, `torch.func.jvp(torch.func.grad(loss_of_params), (θ,), (v,))`
  over `torch.func.functional_call` — the same method as Basin's exact HVP.

Prints a one-line skip message when torch or onnx cannot be imported, or basin-bench has not
written its files. `make bench BENCH_ARGS=onnx` runs basin-bench's section and then this.
"""
import copy
import json
import os
import sys
import tempfile
import time
import warnings

try:
    import torch
    import torch.nn.functional as F
    import onnx
    from onnx import numpy_helper
except ImportError as e:
    print(f"(PyTorch or onnx not installed ({e.name}): skipping the PyTorch ONNX reference)")
    sys.exit(0)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchrecord import record

sections = {a for a in sys.argv[1:] if not a.startswith("--")}   # as basin-bench: all when none is named
if sections and "onnx" not in sections:
    sys.exit(0)
directory = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "basin-bench-onnx")
if not os.path.exists(os.path.join(directory, "basin.json")):
    print(f"(no {directory}/basin.json: run basin-bench onnx first for the PyTorch ONNX reference)")
    sys.exit(0)
with open(os.path.join(directory, "basin.json")) as f:
    basin = json.load(f)
threads = min(2, int(os.environ.get("OPENBLAS_NUM_THREADS", "2")))
torch.set_num_threads(threads)
warnings.filterwarnings("ignore", category=FutureWarning)   # torch.jit deprecation notes on import
fixtures = basin["fixtures"]
sys.path.insert(0, fixtures)
TOLERANCE = 1e-3   # ‖a − b‖ / ‖b‖ from float64; float32 results measured ≤ 1.4e-4


def network(key):
    """The PyTorch module of a basin.json model, or None with the reason."""
    if key == "resnet20":
        from make_bench_graphs import CIFARResNet
        return CIFARResNet(), None
    try:
        from make_fixtures import ResNet18          # imports onnxruntime at the top
    except ImportError as e:
        return None, f"make_fixtures.py needs {e.name}"
    return ResNet18(), None


def onnx_state_dict(path):
    graph = onnx.load(path).graph
    values = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]]
    return values


def load(name):
    return torch.from_numpy(np.load(os.path.join(directory, name)))


def relative(a, b):
    a, b = a.double().reshape(-1), b.double().reshape(-1)
    return float((a - b).norm() / b.norm())


def elapsed(body):
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


x = load("inputs.npy").float()
y = load("labels.npy").long()
batch = x.shape[0]
print(f"PyTorch {torch.__version__} CPU reference ({threads} threads, batch {batch}; HVP double backward and torch.func jvp-of-grad)")


def prepare(key, record):
    """The timed closures of one model, after its values are checked; None when it is skipped.
    (A function, not the loop body: closures must not see the next model's variables.)"""
    model, reason = network(key)
    if model is None:
        print(f"  ({key}: skipped, {reason})")
        return None
    state = onnx_state_dict(os.path.join(fixtures, record["file"]))
    wanted = {k: v for k, v in state.items() if k in model.state_dict()}
    missing, unexpected = model.load_state_dict(wanted, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    model.eval()
    named = dict(model.named_parameters())
    params = [named[n] for n in record["parameters"]]
    assert [list(p.shape) for p in params] == record["shapes"], key
    v = list(load(f"{key}-direction.npy").float().split([p.numel() for p in params]))
    v = [t.view_as(p) for t, p in zip(v, params)]

    def fb():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    def hvp_double():
        g = torch.autograd.grad(F.cross_entropy(model(x), y), params, create_graph=True)
        return torch.autograd.grad(g, params, grad_outputs=v)

    theta = {n: named[n].detach() for n in record["parameters"]}   # same key order as `tangent`
    buffers = dict(model.named_buffers())
    tangent = dict(zip(record["parameters"], v))

    def loss_of(p):
        return F.cross_entropy(torch.func.functional_call(model, (p, buffers), (x,)), y)

    def hvp_forward_over_reverse():
        return torch.func.jvp(torch.func.grad(loss_of), (theta,), (tangent,))[1]

    with torch.no_grad():
        logits = model(x)
    fb()
    gradient = torch.cat([p.grad.reshape(-1) for p in params])
    hv = torch.cat([h.reshape(-1) for h in hvp_double()])
    hv2 = hvp_forward_over_reverse()
    hv2 = torch.cat([hv2[n].reshape(-1) for n in record["parameters"]])
    # The reference: the same in float64 (float32 rounding alone moves ResNet-20's HVP by ≈ 1e-4).
    model64 = copy.deepcopy(model).double()
    p64 = [dict(model64.named_parameters())[n] for n in record["parameters"]]
    logits64 = model64(x.double())
    g64 = torch.autograd.grad(F.cross_entropy(logits64, y), p64, create_graph=True)
    h64 = torch.autograd.grad(g64, p64, grad_outputs=[t.double() for t in v])
    exact = {"logits": logits64.detach(), "gradient": torch.cat([g.detach().reshape(-1) for g in g64]),
             "hvp": torch.cat([h.reshape(-1) for h in h64])}
    results = [("PyTorch", {"logits": logits, "gradient": gradient, "hvp": hv}), ("PyTorch jvp-of-grad", {"hvp": hv2}),
               ("Basin ONNX", {w: load(f"{key}-{w}.npy") for w in exact})]
    if os.path.exists(os.path.join(directory, f"{key}-native-hvp.npy")):
        results.append(("Basin native", {w: load(f"{key}-native-{w}.npy") for w in ("gradient", "hvp")}))
    checks = [(who, w, relative(value, exact[w])) for who, values in results for w, value in values.items()]
    for who, values in results:
        print(f"  {key}: {who} vs float64".ljust(52)
              + ", ".join(f"{w} {d:.1e}" for h, w, d in checks if h == who))
    bad = [c for c in checks if not c[2] <= TOLERANCE]
    if bad:
        sys.exit(f"{key}: results differ from float64 by more than {TOLERANCE} ({bad}): not timing the same computation")
    return {"fb": fb, "hvp": hvp_double, "hvp_func": hvp_forward_over_reverse}


benches = {}
for key, model_record in basin["models"].items():
    prepared = prepare(key, model_record)
    if prepared is not None:
        benches[key] = prepared

times = {}
for _ in range(basin.get("repeats", 3)):
    for key, fns in benches.items():
        for what, fn in fns.items():
            times.setdefault((key, what), []).append(elapsed(fn))
labels = {"resnet20": "ResNet-20", "resnet18": "ResNet-18 fixture (width 8)"}
basin_keys = {"fb": ("native_fb", "onnx_fb"), "hvp": ("native_hvp", "onnx_hvp"), "hvp_func": ("native_hvp", "onnx_hvp")}
names = {"fb": "fwd+bwd", "hvp": "HVP (double backward)", "hvp_func": "HVP (jvp of grad)"}
for (key, what), ts in times.items():
    t = float(np.median(ts))
    seconds = basin["models"][key]["seconds"]
    native, graph = (seconds.get(k) for k in basin_keys[what])
    versus = "Basin takes " + ", ".join(f"{side} {s / t:.1f}×" for side, s in [("native", native), ("ONNX", graph)] if s)
    print(f"{names[what]} {labels[key]}, PyTorch, batch {batch}".ljust(52) + f"{batch / t:7.0f} samples/s  ({t:.3f} s; {versus})")
    # For bench/summary.py: the same timings beside each Basin row they compare with.
    kind = "fb" if what == "fb" else "hvp"
    peer = f"PyTorch {torch.__version__.split('+')[0]} ({threads} threads), " + {"fb": "backward()", "hvp": "double backward", "hvp_func": "jvp of grad"}[what]
    for basin_key in ([f"native-{kind}", f"onnx-{kind}"] if key == "resnet20" else [f"r18-{kind}"]):
        record("onnx", basin_key, ts, peer, True, check="logits, gradient, HVP within 1e-3 of float64", per=(batch, "samples"))
