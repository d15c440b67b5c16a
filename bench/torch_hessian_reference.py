"""PyTorch reference for basin-bench's Hessian benchmark (issue 7).

Loads the MLP 784-512-256-10 weights, inputs and labels that basin-bench wrote to
$BASIN_BENCH_DIR/basin-bench-hessian (.npy, PyTorch names, weights [out, in]), and finds
the top-k Hessian eigenvalues of the mean cross-entropy with the same Lanczos iteration as
Basin (full reorthogonalisation, float64 recurrences, converged when the Ritz residual is
≤ 1e-4·|θ₁|, at most 100 products). Each Hessian-vector product is PyTorch double backprop
(torch.autograd.grad with create_graph=True) over batches of 500 in float32, as
PyHessian does. Prints a one-line skip message when torch cannot be imported.
"""
import json
import os
import sys
import tempfile
import time

try:
    import torch
except ImportError:
    print("(PyTorch not installed: skipping the PyTorch Hessian reference)")
    sys.exit(0)
import numpy as np

directory = os.path.join(os.environ.get("BASIN_BENCH_DIR", tempfile.gettempdir()), "basin-bench-hessian")
if not os.path.exists(os.path.join(directory, "basin.json")):
    print(f"(no {directory}/basin.json: run basin-bench first for the PyTorch Hessian reference)")
    sys.exit(0)
with open(os.path.join(directory, "basin.json")) as f:
    basin = json.load(f)
torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", "2")))
params = [torch.tensor(np.load(os.path.join(directory, name + ".npy")), dtype=torch.float32).requires_grad_()
          for name in basin["parameters"]]
x = torch.tensor(np.load(os.path.join(directory, "inputs.npy")), dtype=torch.float32)
y = torch.tensor(np.load(os.path.join(directory, "labels.npy"))).long()
samples, batch = x.shape[0], basin["batchSize"]
sizes = [p.numel() for p in params]


def forward(h):
    # layers.0, layers.2, layers.4: Linear (weight [out, in], bias [out]) with ReLU between.
    for k in range(0, len(params), 2):
        h = torch.nn.functional.linear(h, params[k], params[k + 1])
        if k + 2 < len(params):
            h = torch.relu(h)
    return h


def hvp(v):
    """H·v of the mean loss over all samples, by double backprop batch by batch."""
    parts = [t.view_as(p) for t, p in zip(torch.from_numpy(v.astype(np.float32)).split(sizes), params)]
    out = np.zeros_like(v)
    for start in range(0, samples, batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        loss = torch.nn.functional.cross_entropy(forward(xb), yb, reduction="sum") / samples
        grads = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=parts)
        out += torch.cat([h.reshape(-1) for h in hv]).double().numpy()
    return out


def lanczos(k, max_iterations=100, tolerance=1e-4, seed=0):
    n = sum(sizes)
    q = np.random.default_rng(seed).standard_normal(n)
    q /= np.linalg.norm(q)
    basis, alphas, betas, products = [], [], [], 0
    while True:
        basis.append(q)
        w = hvp(q)
        products += 1
        alphas.append(q @ w)
        Q = np.array(basis)
        for _ in range(2):                       # full reorthogonalisation, twice
            w -= Q.T @ (Q @ w)
        beta = np.linalg.norm(w)
        m = len(basis)
        t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        theta, s = np.linalg.eigh(t)
        theta, s = theta[::-1], s[:, ::-1]
        residuals = beta * np.abs(s[-1, :])
        if m >= k and (np.all(residuals[:k] <= tolerance * abs(theta[0])) or beta < 1e-12 * abs(theta[0])):
            break
        if m >= min(max_iterations, n):
            break
        betas.append(beta)
        q = w / beta
    return theta[:k], products


start = time.perf_counter()
values, products = lanczos(basin["top"])
seconds = time.perf_counter() - start
print(f"PyTorch {torch.__version__} reference")
label = f"Hessian top-{basin['top']} Lanczos, MLP 784-512-256-10, {samples // 1000}k"
print(label.ljust(52) + f"{seconds:7.2f} s  ({products} HVPs, {seconds / products:.3f} s/HVP)")
print("  Basin".ljust(52) + f"{basin['seconds']:7.2f} s  ({basin['hvps']} HVPs, {basin['seconds'] / basin['hvps']:.3f} s/HVP)")
for i, (v, b) in enumerate(zip(values, basin["eigenvalues"])):
    print(f"  λ{i + 1}".ljust(52) + f"{v:.6g}  (Basin {b:.6g}, rel. diff {abs(v - b) / abs(b):.1e})")
