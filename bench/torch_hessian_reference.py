"""PyTorch references for basin-bench's MLP sections: hessian, landscape and train (issues 7, 14).

What a researcher would run instead, on the inputs basin-bench wrote, with the values checked
against Basin's before anything is timed; timings are appended to $BASIN_BENCH_DIR/results for
bench/summary.py (format at its top). torch.set_num_threads(min(2, OPENBLAS_NUM_THREADS)).

- hessian ($BASIN_BENCH_DIR/basin-bench-hessian: MLP 784-512-256-10 weights as .npy, PyTorch
  names, weights [out, in]; 10 000 inputs and labels): H·v of the mean cross-entropy by double
  backprop (torch.autograd.grad with create_graph=True, as PyHessian does) over batches of 500
  in float32, summed in float64. Checked first: one product along Basin's probe direction
  (‖Δ‖/‖Hv‖ ≤ 2e-3: float32 rounding alone moves Basin's R-op product ≈ 8e-4 from float64 along this probe). Timed: that full-data product (3×), and the top-k eigenvalues by
  scipy.sparse.linalg.eigsh (ARPACK Lanczos, which='LA', tol=1e-4) over it; the eigenvalues
  must agree with Basin's Lanczos within 1e-3 relative.
- landscape ($BASIN_BENCH_DIR/basin-bench-landscape: flat parameter vectors a, b, c, inputs,
  labels, Basin's losses): mean loss and accuracy over 10 000 samples in batches of 500 under
  torch.no_grad() at the same 61 segment points (1 − t)·a + t·b and 25×25 plane points
  (1 − x − y)·a + x·b + y·c; checked on three points before timing and on every point after
  (|Δloss| ≤ 1e-4·(1 + loss)); and the 11×11 loss surface a + α·d₁ + β·d₂ along Basin's
  filter-normalised directions d1.npy, d2.npy (every point checked).
- train: SGD steps (lr 0.01, momentum 0.9) of the same MLP at batch 128 on N(0, 1) inputs, as
  basin-bench's train section times (300 steps, 3 repetitions; values not compared: random data).

Prints a one-line skip message when torch cannot be imported or basin-bench has not written
its files. Sections as basin-bench: `python3 bench/torch_hessian_reference.py landscape`.
"""
import json
import os
import sys
import tempfile
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("(PyTorch not installed: skipping the PyTorch MLP references)")
    sys.exit(0)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchrecord import record

bench_dir = os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir())
sections = {a for a in sys.argv[1:] if not a.startswith("--")}
quick = "--quick" in sys.argv
threads = min(2, int(os.environ.get("OPENBLAS_NUM_THREADS", "2")))
torch.set_num_threads(threads)
peer_name = f"PyTorch {torch.__version__.split('+')[0]} ({threads} threads)"


def enabled(section):
    return not sections or section in sections


def row(name, value):
    print(name.ljust(52) + value)


def elapsed(body):
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


def load_dir(name):
    directory = os.path.join(bench_dir, name)
    path = os.path.join(directory, "basin.json")
    if not os.path.exists(path):
        print(f"(no {path}: run basin-bench first for the PyTorch reference)")
        return None, None
    with open(path) as f:
        return directory, json.load(f)


def forward(params, h):
    """MLP: Linear (weight [out, in], bias [out]) with ReLU between, as layers.0, .2, .4."""
    for k in range(0, len(params), 2):
        h = F.linear(h, params[k], params[k + 1])
        if k + 2 < len(params):
            h = torch.relu(h)
    return h


print(f"{peer_name} references for the MLP sections")
print("-" * 72)

if enabled("hessian"):
    directory, basin = load_dir("basin-bench-hessian")
    if basin:
        params = [torch.tensor(np.load(os.path.join(directory, n + ".npy")), dtype=torch.float32).requires_grad_()
                  for n in basin["parameters"]]
        x = torch.tensor(np.load(os.path.join(directory, "inputs.npy")), dtype=torch.float32)
        y = torch.tensor(np.load(os.path.join(directory, "labels.npy"))).long()
        samples, batch = x.shape[0], basin["batchSize"]
        sizes = [p.numel() for p in params]
        products = [0]

        def hvp(v):
            """H·v of the mean loss over all samples, by double backprop batch by batch."""
            v = np.asarray(v, dtype=np.float64).reshape(-1)
            parts = [t.view_as(p) for t, p in zip(torch.from_numpy(v.astype(np.float32)).split(sizes), params)]
            out = np.zeros(v.shape[0])
            for start in range(0, samples, batch):
                loss = F.cross_entropy(forward(params, x[start:start + batch]), y[start:start + batch], reduction="sum") / samples
                grads = torch.autograd.grad(loss, params, create_graph=True)
                hv = torch.autograd.grad(grads, params, grad_outputs=parts)
                out += torch.cat([h.reshape(-1) for h in hv]).double().numpy()
            products[0] += 1
            return out

        probe = np.load(os.path.join(directory, "probe.npy")).astype(np.float64)
        expected = np.load(os.path.join(directory, "probe-hvp.npy")).astype(np.float64)
        difference = np.linalg.norm(hvp(probe) - expected) / np.linalg.norm(expected)
        row("  H·probe vs Basin's, relative", f"{difference:.1e}")
        # Float32 R-op products (Basin's, and the same R-op written in NumPy float32) are ≈ 8e-4
        # from float64 along a N(0, 1) probe on this MLP; PyTorch's double backprop ≈ 3e-7.
        if not difference <= 2e-3:
            sys.exit(f"PyTorch's H·v differs from Basin's by {difference:.1e} (relative): not timing the same computation")
        times = [elapsed(lambda: hvp(probe)) for _ in range(1 if quick else 3)]
        row(f"one full-data HVP, {samples // 1000}k samples, double backprop", f"{np.median(times):7.3f} s")
        record("hessian", "hvp-full-data", times, f"{peer_name}, double backprop", True,
               check=f"H·v rel. diff {difference:.0e}", per=(samples, "samples"))
        try:
            from scipy.sparse.linalg import LinearOperator, eigsh
        except ImportError:
            print("(SciPy not installed: skipping the Hessian eigenvalues)")
        else:
            n, top = sum(sizes), basin["top"]
            operator = LinearOperator((n, n), matvec=hvp, dtype=np.float64)
            products[0] = 0
            start = time.perf_counter()
            values = eigsh(operator, k=top, which="LA", tol=1e-4, v0=np.random.default_rng(0).standard_normal(n),
                           return_eigenvectors=False)
            seconds = time.perf_counter() - start
            values = np.sort(values)[::-1]
            ours = np.array(basin["eigenvalues"][:top])
            rel = float(np.max(np.abs(values - ours) / np.abs(ours)))
            row(f"Hessian top-{top}, scipy eigsh over double backprop", f"{seconds:7.2f} s  ({products[0]} HVPs)")
            row("  Basin (Lanczos)", f"{basin['seconds']:7.2f} s  ({basin['hvps']} HVPs)")
            row("  max rel. diff of the eigenvalues", f"{rel:.1e}  (" + ", ".join(f"{v:.6g}" for v in values) + ")")
            record("hessian", f"top{top}-lanczos", [seconds], f"{peer_name} double backprop + scipy eigsh", rel <= 1e-3,
                   check=f"λ rel. diff {rel:.0e}", note=f"{products[0]} HVPs")

        density = basin.get("density")
        if density and not quick:
            # PyHessian's density(): m Lanczos steps with full reorthogonalisation from each of
            # several Rademacher starts, the tridiagonal's eigenpairs as nodes and squared first
            # components as weights (Ghorbani et al. 2019) — on the same double-backprop H·v.
            n = sum(sizes)
            rng = np.random.default_rng(1)

            def slq(steps, starts):
                nodes = []
                for _ in range(starts):
                    v = rng.choice([-1.0, 1.0], size=n)
                    v /= np.linalg.norm(v)
                    basis, alphas, betas = [v], [], []
                    w = hvp(v)
                    for i in range(steps):
                        alpha = float(w @ basis[-1])
                        alphas.append(alpha)
                        w = w - alpha * basis[-1] - (betas[-1] * basis[-2] if betas else 0)
                        for b in basis:  # full reorthogonalisation, as PyHessian does
                            w -= (w @ b) * b
                        beta = float(np.linalg.norm(w))
                        if i == steps - 1 or beta < 1e-10:
                            break
                        betas.append(beta)
                        basis.append(w / beta)
                        w = hvp(basis[-1])
                    t = np.diag(alphas) + np.diag(betas[:len(alphas) - 1], 1) + np.diag(betas[:len(alphas) - 1], -1)
                    nodes.append(np.linalg.eigvalsh(t))
                return nodes

            products[0] = 0
            start = time.perf_counter()
            nodes = slq(80, 5)
            slq_seconds = time.perf_counter() - start
            slq_products = products[0]
            top_node = max(float(v.max()) for v in nodes)
            top_rel = abs(top_node - density["topNode"]) / abs(density["topNode"])
            row("SLQ density m = 80 × 5 starts, PyHessian's algorithm", f"{slq_seconds:7.2f} s  ({slq_products} HVPs)")
            row("  Basin", f"{density['seconds']:7.2f} s;  largest node rel. diff {top_rel:.1e}")
            record("hessian", "slq-density-80x5", [slq_seconds], f"{peer_name} double backprop, PyHessian's SLQ (full reorth.)",
                   top_rel <= 1e-2, check=f"largest node rel. diff {top_rel:.0e}", note=f"{slq_products} HVPs")

            # Per-layer traces: Hutchinson on each parameter block (v zero outside it), 20 samples.
            traces, errors = [], []
            start = time.perf_counter()
            for k in range(len(density["layers"])):
                lo = int(density["layerStarts"][k])
                hi = lo + int(density["layerSizes"][k])
                samples_k = []
                for _ in range(20):
                    v = np.zeros(n)
                    v[lo:hi] = rng.choice([-1.0, 1.0], size=hi - lo)
                    samples_k.append(float(v[lo:hi] @ hvp(v)[lo:hi]))
                traces.append(float(np.mean(samples_k)))
                errors.append(float(np.std(samples_k, ddof=1) / np.sqrt(20)))
            layer_seconds = time.perf_counter() - start
            # Two independent Monte Carlo estimates: agree within 4 combined standard errors.
            agree = all(abs(a - b) <= 4 * np.hypot(ea, eb) for a, b, ea, eb in
                        zip(traces, density["layerTraces"], errors, density["layerStandardErrors"]))
            row(f"per-layer traces, {len(traces)} layers × 20", f"{layer_seconds:7.2f} s  (" + ", ".join(f"{t:.3g}" for t in traces) + ")")
            row("  Basin", f"{density['layerSeconds']:7.2f} s  (" + ", ".join(f"{t:.3g}" for t in density["layerTraces"]) + ")")
            record("hessian", "layer-traces-20", [layer_seconds], f"{peer_name} double backprop, Hutchinson per block", agree,
                   check="each trace within 4 combined s.e." if agree else "traces differ beyond 4 s.e.", note=f"{20 * len(traces)} HVPs")

if enabled("landscape"):
    directory, basin = load_dir("basin-bench-landscape")
    if basin:
        shapes = basin["shapes"]
        sizes = [int(np.prod(s)) for s in shapes]
        a, b, c = (torch.from_numpy(np.load(os.path.join(directory, f"{n}.npy")).astype(np.float32)) for n in "abc")
        x = torch.tensor(np.load(os.path.join(directory, "inputs.npy")), dtype=torch.float32)
        y = torch.tensor(np.load(os.path.join(directory, "labels.npy"))).long()
        batch = basin["batchSize"]

        @torch.no_grad()
        def loss_at(theta):
            params = [t.view(s) for t, s in zip(theta.split(sizes), shapes)]
            total, correct = 0.0, 0
            for start in range(0, x.shape[0], batch):
                z = forward(params, x[start:start + batch])
                yb = y[start:start + batch]
                total += float(F.cross_entropy(z, yb, reduction="sum"))
                correct += int((z.argmax(dim=1) == yb).sum())
            return total / x.shape[0], correct / x.shape[0]

        t = basin["t"]
        coords = basin["coordinates"]
        grid = len(coords)
        segment_points = [(1 - s) * a + s * b for s in t]
        plane_weights = [(1 - coords[k % grid] - coords[k // grid], coords[k % grid], coords[k // grid]) for k in range(grid * grid)]

        def plane_point(k):
            wa, wb, wc = plane_weights[k]
            return wa * a + wb * b + wc * c

        def close(ours, theirs):
            return abs(ours - theirs) <= 1e-4 * (1 + abs(theirs))

        checks = [(segment_points[0], basin["segmentLoss"][0]), (segment_points[len(t) // 2], basin["segmentLoss"][len(t) // 2]),
                  (plane_point(grid * grid - 1), basin["planeLoss"][-1])]
        for theta, expected in checks:
            got = loss_at(theta)[0]
            if not close(got, expected):
                sys.exit(f"PyTorch's loss {got} differs from Basin's {expected}: not timing the same computation")
        segment_times, plane_times, seg_values, plane_values = [], [], [], []
        for r in range(1 if quick else 3):
            segment_times.append(elapsed(lambda: seg_values.__setitem__(slice(None), [loss_at(p) for p in segment_points])))
            if r == 0:
                plane_times.append(elapsed(lambda: plane_values.__setitem__(slice(None), [loss_at(plane_point(k)) for k in range(grid * grid)])))
        seg_ok = all(close(v[0], e) for v, e in zip(seg_values, basin["segmentLoss"]))
        plane_ok = all(close(v[0], e) for v, e in zip(plane_values, basin["planeLoss"]))
        seg_diff = max(abs(v[0] - e) for v, e in zip(seg_values, basin["segmentLoss"]))
        plane_diff = max(abs(v[0] - e) for v, e in zip(plane_values, basin["planeLoss"]))
        row(f"segment, {len(t)} points, torch.no_grad forward", f"{np.median(segment_times):7.2f} s  (max |Δloss| vs Basin {seg_diff:.1e})")
        row(f"plane {grid}×{grid}, torch.no_grad forward", f"{np.median(plane_times):7.2f} s  (max |Δloss| vs Basin {plane_diff:.1e})")
        record("landscape", f"segment-{len(t)}", segment_times, f"{peer_name}, no_grad forward", seg_ok,
               check=f"max |Δloss| {seg_diff:.0e} over all points", per=(len(t), "points"))
        record("landscape", f"plane-{grid}x{grid}", plane_times, f"{peer_name}, no_grad forward", plane_ok,
               check=f"max |Δloss| {plane_diff:.0e} over all points", per=(grid * grid, "points"))

        # The loss surface a + α·d₁ + β·d₂ (Li et al. 2018; loss-landscape's route: set the
        # weights, evaluate the data under no_grad) at Basin's filter-normalised directions.
        if "surfaceLoss" in basin and os.path.exists(os.path.join(directory, "d1.npy")):
            d1, d2 = (torch.from_numpy(np.load(os.path.join(directory, f"{n}.npy")).astype(np.float32)) for n in ("d1", "d2"))
            sc = basin["surfaceCoordinates"]
            side = len(sc)
            surface_points = [a + sc[k % side] * d1 + sc[k // side] * d2 for k in range(side * side)]
            surface_times, surface_values = [], []
            for r in range(1 if quick else 2):
                surface_times.append(elapsed(lambda: surface_values.__setitem__(slice(None), [loss_at(p) for p in surface_points])))
            surface_ok = all(close(v[0], e) for v, e in zip(surface_values, basin["surfaceLoss"]))
            surface_diff = max(abs(v[0] - e) for v, e in zip(surface_values, basin["surfaceLoss"]))
            row(f"surface {side}×{side}, torch.no_grad forward", f"{np.median(surface_times):7.2f} s  (max |Δloss| vs Basin {surface_diff:.1e})")
            record("landscape", f"surface-{side}x{side}", surface_times, f"{peer_name}, no_grad forward (loss-landscape's route)", surface_ok,
                   check=f"max |Δloss| {surface_diff:.0e} over all points", per=(side * side, "points"))

if enabled("train"):
    # Interleaved with Basin round by round (`basin-bench train-round`, a fresh process each, as
    # the conv section does): a 2-core VM's speed drifts over minutes, and the two sides timed
    # minutes apart measured that drift more than either side.
    import subprocess
    steps = 75 if quick else 300
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xb, yb = torch.randn(128, 784), torch.randint(0, 10, (128,))

    def train():
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()

    binary = os.environ.get("BASIN_BENCH_BINARY", ".build/release/basin-bench")

    def basin_round():
        out = subprocess.run([binary, "train-round"] + (["--quick"] if quick else []), check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])["seconds"]

    train()
    times, basin_times = [], []
    for _ in range(1 if quick else 5):
        times.append(elapsed(train))
        if os.path.exists(binary):
            basin_times.append(basin_round())
    row(f"train MLP 784-512-256-10, batch 128", f"{steps * 128 / np.median(times):7.0f} samples/s"
        + (f"   Basin {steps * 128 / np.median(basin_times):7.0f} samples/s (interleaved)" if basin_times else ""))
    workload = f"training step (SGD, momentum), mlp 784-512-256-10, {steps} steps of batch 128, interleaved with PyTorch"
    if basin_times:
        record("train", f"torch-train-mlp-{steps}x128", basin_times, None, False, workload=workload, per=(steps * 128, "samples"), side="basin")
    record("train", f"torch-train-mlp-{steps}x128", times, f"{peer_name}, nn.Sequential + optim.SGD", False,
           check="random data, values not compared", workload=workload, per=(steps * 128, "samples"))
