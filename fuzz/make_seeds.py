#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus, fuzz/corpus/<target>/: small valid files of every kind
Basin reads, made by NumPy, by hand from the formats' specifications, and by Basin itself
(checkpoints, through `analyze import`). Usage: make_seeds.py ANALYZE_BINARY [OUT_DIR]

The seeds are committed; rerun this when a format changes (e.g. a new checkpoint version).
"""
import gzip, io, json, os, shutil, struct, subprocess, sys, tarfile, tempfile
import numpy as np

analyze = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def folder(target):
    d = os.path.join(out, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d

def npy_bytes(a, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, a)
    else:
        np.lib.format.write_array(b, a, version=version)
    return b.getvalue()

rng = np.random.default_rng(0)
arrays = {
    "f4-2x3": rng.standard_normal((2, 3)).astype("<f4"),
    "f8-vector": rng.standard_normal(5),
    "f2-2x2": rng.standard_normal((2, 2)).astype("<f2"),
    "i8-scalar": np.array(7, dtype="<i8"),
    "u1-3x2x2": rng.integers(0, 255, (3, 2, 2)).astype("u1"),
    "bool-4": np.array([True, False, True, True]),
    "i4-empty": np.zeros((0, 3), dtype="<i4"),
    "f4-bigendian": rng.standard_normal((2, 2)).astype(">f4"),
    "f4-fortran": np.asfortranarray(rng.standard_normal((2, 3)).astype("<f4")),
}

d = folder("npy")
for name, a in arrays.items():
    open(os.path.join(d, name + ".npy"), "wb").write(npy_bytes(a))
open(os.path.join(d, "v2-f4.npy"), "wb").write(npy_bytes(arrays["f4-2x3"], version=(2, 0)))
open(os.path.join(d, "v3-f4.npy"), "wb").write(npy_bytes(arrays["f4-2x3"], version=(3, 0)))

d = folder("npz")
np.savez(os.path.join(d, "stored.npz"), w=arrays["f4-2x3"], b=arrays["f8-vector"])
np.savez_compressed(os.path.join(d, "deflated.npz"), w=arrays["f4-2x3"], n=arrays["i8-scalar"])

def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, a) in tensors.items():
        raw = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data

d = folder("safetensors")
open(os.path.join(d, "two.safetensors"), "wb").write(safetensors(
    {"fc.weight": ("F32", arrays["f4-2x3"]), "fc.bias": ("F64", arrays["f8-vector"])}, {"format": "pt"}))
open(os.path.join(d, "ints.safetensors"), "wb").write(safetensors(
    {"steps": ("I64", np.array([1, 2, 3], dtype="<i8")), "h": ("F16", arrays["f2-2x2"]),
     "m": ("BOOL", arrays["bool-4"]), "u": ("U8", arrays["u1-3x2x2"])}))

def idx(a, code):
    return bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">I", n) for n in a.shape) + a.astype(a.dtype.newbyteorder(">")).tobytes()

d = folder("idx")
images = rng.integers(0, 255, (3, 4, 4)).astype("u1")
open(os.path.join(d, "images-ubyte"), "wb").write(idx(images, 0x08))
open(os.path.join(d, "labels-ubyte"), "wb").write(idx(np.array([1, 0, 2], dtype="u1"), 0x08))
open(os.path.join(d, "images-ubyte.gz"), "wb").write(gzip.compress(idx(images, 0x08), mtime=0))

d = folder("csv")
open(os.path.join(d, "header-label-last.csv"), "w").write("a,b,c,label\n0.5,1,2,1\n3,4.25,-5,0\n6,7,8e-1,2\n")
open(os.path.join(d, "comments.csv"), "w").write("# optdigits-like\n0,16,3,9\n\n1,2,3,0\n")

d = folder("modelspec")
for name, spec in {
    "mlp": {"kind": "mlp", "inputShape": [1, 28, 28], "widths": [64, 32], "classes": 10},
    "shallow-cnn": {"kind": "shallow-cnn", "inputShape": [1, 28, 28], "classes": 10},
    "vgg": {"kind": "vgg", "depth": 11, "inputShape": [3, 32, 32], "classes": 10, "widthMultiplier": 0.25},
    "resnet": {"kind": "resnet", "depth": 20, "inputShape": [3, 32, 32], "classes": 10},
}.items():
    json.dump(spec, open(os.path.join(d, name + ".json"), "w"))

# Checkpoints, written by Basin itself, uncompressed and compressed.
tmp = tempfile.mkdtemp()
try:
    src = os.path.join(tmp, "state")
    os.makedirs(src)
    np.save(os.path.join(src, "fc1.weight.npy"), arrays["f4-2x3"])
    np.save(os.path.join(src, "fc1.bias.npy"), np.zeros(2, dtype="<f4"))
    np.save(os.path.join(src, "bn.running_mean.npy"), np.ones(3, dtype="<f4"))
    spec = os.path.join(tmp, "spec.json")
    json.dump({"kind": "mlp", "inputShape": [3], "widths": [], "classes": 2}, open(spec, "w"))
    d = os.path.join(out, "checkpoint")
    os.makedirs(d, exist_ok=True)
    # Format-1 seeds (epoch-1-*-formatv1.ckpt, written by Basin before format 2) are kept.
    for f in os.listdir(d):
        if "formatv1" not in f:
            os.remove(os.path.join(d, f))
    for compression in ["none", "gzip", "zstd"]:
        path = os.path.join(d, f"epoch-1-{compression}.ckpt")
        subprocess.run([analyze, "import", src, "--out", path, "--model-spec", spec, "--epoch", "1",
                        "--learning-rate", "0.1", "--compression", compression], check=True, stdout=subprocess.DEVNULL)
    m = folder("manifest")
    with tarfile.open(os.path.join(d, "epoch-1-none.ckpt")) as t:
        open(os.path.join(m, "manifest.json"), "wb").write(t.extractfile("manifest.json").read())
finally:
    shutil.rmtree(tmp)
print("seeds written to", out)
