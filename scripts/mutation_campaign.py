#!/usr/bin/env python3
"""Mutation campaign: Basin's command line against thousands of damaged files.

Trains a tiny run, writes its state dict as .npy, .npz (stored and deflated) and
.safetensors, then damages copies of every kind of file (bit flips, truncations, inserted
bytes, overwritten runs, and edits of the formats' own header fields: tar sizes and names,
.npy shapes, .npz local headers, safetensors lengths and offsets, manifest fields) and
feeds each through the command a user would run on it:

  inspect     analyze inspect FILE.ckpt                    (checkpoint archives, plain and gzip)
  export      analyze export FILE.ckpt --to DIR/
  analyzer    analyze norms RUN --epochs 1,2 / analyze svcca RUN --epochs 1,2  (damaged run folders)
  import-*    analyze import FILE --out OUT.ckpt             (.npy, .npz, .safetensors)

Each process runs under a 4 GiB address-space limit and a 10 s timeout. An outcome is
  crash      killed by a signal, or an exit code other than 0, 1 and 64
  hang       still running after 10 s
  accepted   exit 0 although what Basin read differs from the original: for archives, the
             manifest or any entry differs (Python's tarfile as the independent reader); for
             imports, the reference reader (NumPy; the safetensors library or a reader written
             from its specification) rejects the file or reads other data than Basin imported
  refused    exit 1 with exactly one line on stderr (the right answer to a damaged file)
  unclear    exit 1 with more or less than one line, or exit 64 (a usage error) on a file
  same       exit 0 and the data read equal the original (the damage hit padding or metadata)
and peak memory (the process's maximum resident set) is compared with the valid files' runs
plus twice the largest tensor (plus 8 MiB of allocator noise). Exit status 1 if anything crashed, hung, was accepted, was
unclear, or used too much memory.

Usage: scripts/mutation_campaign.py ANALYZE_BINARY [--cases N] [--seed S] [--jobs J] [--out DIR]
"""
import argparse, concurrent.futures, gzip, io, json, os, random, shutil, struct, subprocess
import sys, tarfile, tempfile, time, zipfile
import numpy as np

TIMEOUT = 10
ADDRESS_LIMIT = 4 << 30


# Peak memory is measured by a small C launcher: a process's maximum resident set survives
# exec, so a child forked from this (large) Python process would report Python's size. The
# launcher is small; it forks, sets the address-space limit, execs the command, kills it at
# the timeout, and prints the status and the child's own peak RSS.
LAUNCHER_C = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
static pid_t child;
static int hung;
static void on_alarm(int s) { (void)s; hung = 1; kill(child, SIGKILL); }
int main(int argc, char **argv) {
    long limit = atol(argv[1]), seconds = atol(argv[2]);
    child = fork();
    if (child == 0) {
        struct rlimit r = { (rlim_t)limit, (rlim_t)limit };
        setrlimit(RLIMIT_AS, &r);
        execv(argv[3], argv + 3);
        _exit(127);
    }
    signal(SIGALRM, on_alarm);
    alarm((unsigned)seconds);
    int status; struct rusage u;
    while (wait4(child, &status, 0, &u) < 0) {}
    int code = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
    fprintf(stderr, "\nlauncher: %d %ld %d\n", code, u.ru_maxrss, hung);
    return 0;
}
"""
LAUNCHER = None


def build_launcher(work):
    global LAUNCHER
    source, binary = os.path.join(work, "launcher.c"), os.path.join(work, "launcher")
    open(source, "w").write(LAUNCHER_C)
    subprocess.run(["cc", "-O2", "-o", binary, source], check=True)
    LAUNCHER = binary


def run_limited(cmd, cwd):
    """Runs cmd with the address-space limit and timeout; returns (status, stderr, peak RSS bytes, seconds, hung)."""
    start = time.monotonic()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", SWIFT_BACKTRACE="enable=no")
    p = subprocess.run([LAUNCHER, str(ADDRESS_LIMIT), str(TIMEOUT)] + cmd, cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    text = p.stderr.decode("utf-8", "replace")
    head, _, report = text.rpartition("\nlauncher: ")
    code, rss_kb, hung = (int(v) for v in report.split())
    return code, head, rss_kb * 1024, time.monotonic() - start, hung == 1


# ---------- independent readers (the oracles) ----------

def archive_content(path):
    """(manifest dict, {entry: bytes}) of a Basin archive read by Python's tarfile, or None if unreadable."""
    try:
        with tarfile.open(path) as t:
            entries = {}
            for m in t:
                if not m.isfile() or m.name in entries:
                    return None
                entries[m.name] = t.extractfile(m).read()
        return json.loads(entries.pop("manifest.json")), entries
    except Exception:
        return None


def reference_arrays(path, kind):
    """{name: (dtype str, shape, little-endian C-order bytes)} by the reference reader, or None if it refuses."""
    try:
        if kind == "npy":
            arrays = {os.path.basename(path)[:-4]: np.load(path, allow_pickle=False)}
        elif kind == "npz":
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                if len(set(names)) != len(names):
                    return None
                arrays = {}
                for n in names:
                    if not n.endswith(".npy"):
                        continue
                    arrays[n[:-4]] = np.load(io.BytesIO(z.read(n)), allow_pickle=False)  # zipfile checks CRC-32
        else:
            arrays = read_safetensors(path)
            if arrays is None:
                return None
    except Exception:
        return None
    out = {}
    for name, a in arrays.items():
        if a.dtype.hasobject or a.dtype.fields is not None:
            return None
        a = np.ascontiguousarray(a)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        out[name] = (a.dtype.str.lstrip("<|="), list(a.shape), a.tobytes())
    return out


ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
             "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """The safetensors library when installed; otherwise the specification's checks, written out."""
    try:
        from safetensors.numpy import load_file
        return load_file(path)
    except ImportError:
        pass
    data = open(path, "rb").read()
    if len(data) < 8:
        return None
    n = struct.unpack("<Q", data[:8])[0]
    if n > 100_000_000 or 8 + n > len(data):
        return None
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)
    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    body = data[8 + n:]
    header.pop("__metadata__", None)
    spans, out = [], {}
    for name, info in header.items():
        dtype = ST_DTYPES[info["dtype"]]
        shape = [int(d) for d in info["shape"]]
        start, end = info["data_offsets"]
        size = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
        if end - start != size or start < 0 or end > len(body):
            return None
        spans.append((start, end))
        out[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(shape)
    spans.sort()
    position = 0
    for start, end in spans:
        if start != position:
            return None
        position = end
    if position != len(body):
        return None
    return out


def basin_arrays(analyze, archive, workdir):
    """What Basin imported, exported back to .npy and read with NumPy."""
    folder = tempfile.mkdtemp(dir=workdir)
    try:
        code, _, _, _, _ = run_limited([analyze, "export", archive, "--to", folder + "/x/"], workdir)
        if code != 0:
            return None
        return reference_arrays_folder(folder + "/x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def reference_arrays_folder(folder):
    out = {}
    for f in sorted(os.listdir(folder)):
        out.update(reference_arrays(os.path.join(folder, f), "npy") or {})
    return out


# ---------- mutations ----------

def generic_mutation(data, rng):
    data = bytearray(data)
    kind = rng.choice(["flip", "flip", "flip", "truncate", "insert", "overwrite", "delete"])
    if not data:
        return bytes(data), "empty"
    at = rng.randrange(len(data))
    if kind == "flip":
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del data[at:]
    elif kind == "insert":
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == "overwrite":
        fill = rng.choice([0x00, 0xFF, 0x7F, 0x30, 0x37])
        n = rng.randint(1, 12)
        data[at:at + n] = bytes([fill]) * len(data[at:at + n])
    else:
        del data[at:at + rng.randint(1, 32)]
    return bytes(data), kind


def tar_field_mutation(data, rng):
    """Edits a field of one tar header: size, name, type, checksum."""
    data = bytearray(data)
    headers, offset = [], 0
    while offset + 512 <= len(data) and any(data[offset:offset + 512]):
        headers.append(offset)
        size = int(data[offset + 124:offset + 136].strip(b"\0 ") or b"0", 8)
        offset += 512 + (size + 511) // 512 * 512
    if not headers:
        return generic_mutation(bytes(data), rng)
    h = rng.choice(headers)
    field = rng.choice(["size-huge", "size-plus", "size-minus", "name-dup", "name-traversal", "type"])
    def set_field(start, width, value):
        data[start:start + width] = value[:width].ljust(width, b"\0")
        fix_checksum()
    def fix_checksum():
        data[h + 148:h + 156] = b" " * 8
        data[h + 148:h + 156] = b"%06o\0 " % sum(data[h:h + 512])
    size = int(data[h + 124:h + 136].strip(b"\0 ") or b"0", 8)
    if field == "size-huge":
        set_field(h + 124, 12, b"77777777777\0")
    elif field == "size-plus":
        set_field(h + 124, 12, b"%011o\0" % (size + rng.choice([1, 512, 4096])))
    elif field == "size-minus":
        set_field(h + 124, 12, b"%011o\0" % max(0, size - rng.choice([1, 4, 512])))
    elif field == "name-dup":
        other = rng.choice(headers)
        set_field(h, 100, bytes(data[other:other + 100]))
    elif field == "name-traversal":
        set_field(h, 100, b"../../escaped.npy")
    else:
        set_field(h + 156, 1, rng.choice([b"5", b"2", b"1", b"x"]))
    return bytes(data), "tar-" + field


def manifest_field_mutation(data, rng):
    """Rewrites the manifest inside an uncompressed archive (a field changed, JSON still valid)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        members = [(m, t.extractfile(m).read()) for m in t]
    manifest = json.loads(members[0][1])
    field = rng.choice(["iteration", "learningRate", "metric", "tensor-name", "shape", "model", "epoch", "role"])
    if field == "iteration":
        manifest["iteration"] = manifest.get("iteration", 0) + 1
    elif field == "learningRate":
        manifest["learningRate"] = (manifest.get("learningRate") or 0.1) * 2
    elif field == "metric":
        manifest.setdefault("metrics", {})["val_acc"] = 0.99
    elif field == "epoch":
        manifest["epoch"] = manifest.get("epoch", 0) + 1
    elif field == "model" and "model" in manifest:
        manifest["model"]["classes"] = manifest["model"].get("classes", 10) + 1
    elif manifest["tensors"]:
        t = rng.choice(manifest["tensors"])
        if field == "tensor-name":
            t["name"] = t["name"] + "x"
        elif field == "shape":
            t["shape"] = list(reversed(t["shape"])) if len(t["shape"]) > 1 else [2 ** 62, 4]
        else:
            t["role"] = "buffer" if t["role"] != "buffer" else "parameter"
    text = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for i, (m, content) in enumerate(members):
            if i == 0:
                content = text
            info = tarfile.TarInfo(m.name)
            info.size = len(content)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(content))
    return out.getvalue(), "manifest-" + field


def npy_field_mutation(data, rng):
    text_end = data.find(b"\n", 10)
    if not data.startswith(b"\x93NUMPY") or text_end < 0:
        return generic_mutation(data, rng)
    header = data[10:text_end].decode("latin1")
    choice = rng.choice(["shape-huge", "shape-bigger", "shape-negative", "nested", "descr", "fortran", "length"])
    if choice == "length":
        d = bytearray(data)
        d[8:10] = struct.pack("<H", rng.choice([0, 1, 0xFFFF, len(header) + 64]))
        return bytes(d), "npy-header-length"
    start, end = header.index("'shape': (") + 10, header.index(")", header.index("'shape': ("))
    if choice == "shape-huge":
        header = header[:start] + "4611686018427387904, 4" + header[end:]
    elif choice == "shape-bigger":
        header = header[:start] + "1000000, 1000" + header[end:]
    elif choice == "shape-negative":
        header = header[:start] + "-1, 3" + header[end:]
    elif choice == "nested":
        header = header[:start] + "(" * 5000 + header[end:]
    elif choice == "descr":
        header = header.replace("'<f4'", rng.choice(["'>f4'", "'<f8'", "'|O'", "'<c8'", "'<U4'"]))
    else:
        header = header.replace("False", "True")
    new = header.encode("latin1") + b"\n"
    return data[:8] + struct.pack("<H", len(new)) + new + data[text_end + 1:], "npy-" + choice


def npz_field_mutation(data, rng):
    """Edits a zip local file header or central directory field (sizes, CRC, name length)."""
    d = bytearray(data)
    sig = rng.choice([b"PK\x03\x04", b"PK\x01\x02"])
    positions = [i for i in range(len(d) - 4) if d[i:i + 4] == sig]
    if not positions:
        return generic_mutation(data, rng)
    p = rng.choice(positions)
    local = sig == b"PK\x03\x04"
    field = rng.choice(["crc", "compressed", "uncompressed", "namelen"])
    offset = {"crc": 14, "compressed": 18, "uncompressed": 22, "namelen": 26}[field] + (0 if local else 2)
    value = rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, struct.unpack("<I", bytes(d[p + offset:p + offset + 4]))[0] + 1])
    if field == "namelen":
        d[p + offset:p + offset + 2] = struct.pack("<H", value & 0xFFFF)
    else:
        d[p + offset:p + offset + 4] = struct.pack("<I", value & 0xFFFFFFFF)
    return bytes(d), ("npz-local-" if local else "npz-central-") + field


def safetensors_field_mutation(data, rng):
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    choice = rng.choice(["length+1", "length-1", "length-huge", "overlap", "gap", "shape", "dtype", "trailing"])
    body = data[8 + n:]
    if choice.startswith("length"):
        value = {"length+1": n + 1, "length-1": n - 1, "length-huge": 2 ** 63}[choice]
        return struct.pack("<Q", value) + data[8:], "st-" + choice
    if choice == "trailing":
        return data + b"\0" * rng.randint(1, 8), "st-trailing"
    names = [k for k in header if k != "__metadata__"]
    t = header[rng.choice(names)]
    if choice == "overlap":
        t["data_offsets"] = [max(0, t["data_offsets"][0] - 4), t["data_offsets"][1] - 4]
    elif choice == "gap":
        t["data_offsets"] = [t["data_offsets"][0] + 4, t["data_offsets"][1] + 4]
    elif choice == "shape":
        t["shape"] = [2 ** 62, 4] if rng.random() < 0.5 else list(reversed(t["shape"])) + [1]
    else:
        t["dtype"] = rng.choice(["F64", "I32", "U8", "X9"])
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body, "st-" + choice


# ---------- the campaign ----------

def prepare(analyze, work):
    """A tiny trained run and its state dict in every import format."""
    spec = {
        "name": "campaign",
        "data": {"source": {"fashionMNIST": {}}, "trainLimit": 300, "validationCount": 100, "testLimit": 100, "seed": 1},
        "model": {"kind": "mlp", "inputShape": [1, 28, 28], "widths": [64], "classes": 10},
        "optimizer": {"sgd": {"learningRate": 0.05, "momentum": 0.9, "nesterov": False, "weightDecay": 0}},
        "training": {"batchSize": 50, "epochs": 2, "seed": 3,
                     "schedule": {"step": {"factor": 0.2, "initial": 0.05, "milestones": [100], "unit": "epoch"}}},
        "save": {"epochs": [1, 2], "activationEpochs": [1, 2], "iterationEpochs": [], "compression": "none",
                 "probeCount": 100},
    }
    json.dump(spec, open(f"{work}/spec.json", "w"))
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
    subprocess.run([analyze, "train", "--config", f"{work}/spec.json", "--out", f"{work}/run", "--fixtures", fixtures],
                   check=True, stdout=subprocess.DEVNULL)
    run = f"{work}/run"
    ckpt = f"{run}/checkpoints/epoch-0002.ckpt"
    subprocess.run([analyze, "export", ckpt, "--to", f"{work}/state/"], check=True, stdout=subprocess.DEVNULL)
    state = {f[:-4]: np.load(f"{work}/state/{f}") for f in sorted(os.listdir(f"{work}/state"))}
    np.savez(f"{work}/state.npz", **state)
    np.savez_compressed(f"{work}/state-deflated.npz", **state)
    header, body = {}, b""
    for name, a in state.items():
        raw = a.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    open(f"{work}/state.safetensors", "wb").write(struct.pack("<Q", len(text)) + text + body)
    with open(ckpt, "rb") as f:
        open(f"{work}/epoch-0002.ckpt.gz", "wb").write(gzip.compress(f.read(), mtime=0))
    largest = max(a.nbytes for a in state.values())
    return run, state, largest


def scenarios(work, run):
    npy = sorted(os.listdir(f"{work}/state"))
    return [
        # name, original file, command builder, kind, field mutator
        ("inspect-ckpt", f"{run}/checkpoints/epoch-0002.ckpt", lambda f, o: ["inspect", f], "archive", tar_field_mutation),
        ("inspect-ckpt-manifest", f"{run}/checkpoints/epoch-0002.ckpt", lambda f, o: ["inspect", f], "archive", manifest_field_mutation),
        ("inspect-ckpt-gzip", f"{work}/epoch-0002.ckpt.gz", lambda f, o: ["inspect", f], "archive-gz", None),
        ("export-ckpt", f"{run}/checkpoints/epoch-0002.ckpt", lambda f, o: ["export", f, "--to", o + "/exported/"], "archive", tar_field_mutation),
        ("norms-run", f"{run}/checkpoints/epoch-0002.ckpt", lambda f, o: ["norms", o + "/run", "--epochs", "1,2", "--out", o + "/norms"], "run-ckpt", manifest_field_mutation),
        ("svcca-run", f"{run}/activations/epoch-0002.acts", lambda f, o: ["svcca", o + "/run", "--epochs", "1,2", "--out", o + "/svcca"], "run-acts", tar_field_mutation),
        ("import-npy", f"{work}/state/{npy[0]}", lambda f, o: ["import", f, "--out", o + "/out.ckpt"], "npy", npy_field_mutation),
        ("import-npz", f"{work}/state.npz", lambda f, o: ["import", f, "--out", o + "/out.ckpt"], "npz", npz_field_mutation),
        ("import-npz-deflated", f"{work}/state-deflated.npz", lambda f, o: ["import", f, "--out", o + "/out.ckpt"], "npz", npz_field_mutation),
        ("import-safetensors", f"{work}/state.safetensors", lambda f, o: ["import", f, "--out", o + "/out.ckpt"], "safetensors", safetensors_field_mutation),
    ]


def one_case(analyze, work, run, scenario, index, seed, keep=None):
    name, original, command, kind, field_mutation = scenario
    rng = random.Random(f"{seed}-{name}-{index}")
    data = open(original, "rb").read()
    if field_mutation is not None and rng.random() < 0.35:
        mutated, how = field_mutation(data, rng)
    else:
        mutated, how = generic_mutation(data, rng)
    case = tempfile.mkdtemp(dir=work)
    try:
        if kind.startswith("run"):
            shutil.copytree(run, case + "/run", ignore=shutil.ignore_patterns("analyses"))
            target = case + "/run/" + os.path.relpath(original, run)
        else:
            target = case + "/" + os.path.basename(original)
        with open(target, "wb") as f:
            f.write(mutated)
        code, err, rss, seconds, hung = run_limited([analyze] + command(target, case), case)
        lines = [l for l in err.splitlines() if l.strip()]
        outcome = classify(analyze, case, kind, original, target, mutated == data, code, lines, hung)
        if keep and outcome in ("crash", "hang", "accepted", "unclear"):
            os.makedirs(keep, exist_ok=True)
            with open(os.path.join(keep, f"{name}-{index}-{how}{os.path.splitext(original)[1]}"), "wb") as f:
                f.write(mutated)
        return {"scenario": name, "case": index, "mutation": how, "exit": code, "outcome": outcome,
                "rss": rss, "seconds": round(seconds, 3), "stderr": lines[:3]}
    finally:
        shutil.rmtree(case, ignore_errors=True)


def classify(analyze, case, kind, original, target, unchanged, code, lines, hung):
    if hung:
        return "hang"
    if code < 0 or code not in (0, 1, 64):
        return "crash"
    if code == 1:
        return "refused" if len(lines) == 1 else "unclear"
    if code == 64:
        return "unclear"
    if unchanged:
        return "same"
    if kind.startswith("archive") or kind.startswith("run"):
        # The archive as Python's tarfile reads it (gzip too) against the original.
        return "same" if archive_content(target) == archive_content(original) and archive_content(target) is not None else "accepted"
    reference = reference_arrays(target, kind)
    imported = basin_arrays(analyze, case + "/out.ckpt", case)
    return "same" if reference is not None and reference == imported else "accepted"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("analyze")
    ap.add_argument("--cases", type=int, default=600, help="cases per scenario (10 scenarios)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="out/mutation-campaign")
    ap.add_argument("--scenarios", default="", help="comma-separated scenario names (default: all)")
    args = ap.parse_args()
    analyze = os.path.abspath(args.analyze)
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="basin-campaign-")
    try:
        build_launcher(work)
        run, _, largest = prepare(analyze, work)
        all_scenarios = [s for s in scenarios(work, run) if not args.scenarios or s[0] in args.scenarios.split(",")]
        baseline = {}
        for s in all_scenarios:
            case = tempfile.mkdtemp(dir=work)
            if s[3].startswith("run"):
                shutil.copytree(run, case + "/run", ignore=shutil.ignore_patterns("analyses"))
                target = case + "/run/" + os.path.relpath(s[1], run)
            else:
                target = case + "/" + os.path.basename(s[1])
                shutil.copy(s[1], target)
            code, err, rss, _, _ = run_limited([analyze] + s[2](target, case), case)
            if code != 0:
                sys.exit(f"campaign: the valid input of {s[0]} fails: {err.strip()}")
            baseline[s[0]] = rss
            shutil.rmtree(case)
        # The process itself (Swift runtime, BLAS, libarchive) takes ~35 MiB on any input; what a
        # damaged file may add on top is bounded by twice the largest tensor, plus 8 MiB for the
        # allocator's noise between runs.
        limits = {name: rss + 2 * largest + (8 << 20) for name, rss in baseline.items()}
        started = time.monotonic()
        results = []
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            keep = os.path.join(os.path.abspath(args.out), "findings")
            shutil.rmtree(keep, ignore_errors=True)
            futures = [pool.submit(one_case, analyze, work, run, s, i, args.seed, keep)
                       for i in range(args.cases) for s in all_scenarios]
            for n, f in enumerate(concurrent.futures.as_completed(futures), 1):
                results.append(f.result())
                if sys.stderr.isatty() and n % 50 == 0:
                    print(f"\r{n}/{len(futures)} cases", end="", file=sys.stderr, flush=True)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        for r in results:
            r["memory"] = "over" if r["rss"] > limits[r["scenario"]] else "ok"
        results.sort(key=lambda r: (r["scenario"], r["case"]))
        with open(os.path.join(args.out, "cases.jsonl"), "w") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
        outcomes = ["refused", "same", "crash", "hang", "accepted", "unclear"]
        rows = []
        for s in all_scenarios:
            rs = [r for r in results if r["scenario"] == s[0]]
            rows.append([s[0], len(rs)] + [sum(r["outcome"] == o for r in rs) for o in outcomes]
                        + [sum(r["memory"] == "over" for r in rs),
                           f"{max(r['rss'] for r in rs) / 2**20:.1f} ({baseline[s[0]] / 2**20:.1f})"])
        totals = ["all", len(results)] + [sum(row[i] for row in rows) for i in range(2, 2 + len(outcomes) + 1)] \
                 + [f"{max(r['rss'] for r in results) / 2**20:.1f}"]
        header = ["scenario", "cases"] + outcomes + ["memory over", "peak RSS MiB (valid file)"]
        table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in rows + [totals]:
            table.append("| " + " | ".join(f"{v:.0f}" if isinstance(v, float) else str(v) for v in row) + " |")
        summary = {
            "cases": len(results), "seed": args.seed, "seconds": round(time.monotonic() - started),
            "memoryLimitBytes": limits, "largestTensorBytes": largest, "baselineRSS": baseline,
            "outcomes": {o: sum(r["outcome"] == o for r in results) for o in outcomes},
            "memoryOver": sum(r["memory"] == "over" for r in results),
        }
        json.dump(summary, open(os.path.join(args.out, "summary.json"), "w"), indent=2, sort_keys=True)
        open(os.path.join(args.out, "summary.md"), "w").write("\n".join(table) + "\n")
        print("\n".join(table))
        print(f"\n{len(results)} cases in {summary['seconds']} s; memory limit per scenario: the valid file's peak "
              f"+ 2 × largest tensor ({largest} B) + 8 MiB; details in {args.out}/cases.jsonl, "
              f"damaged inputs of the findings in {args.out}/findings/")
        bad = [r for r in results if r["outcome"] in ("crash", "hang", "accepted", "unclear") or r["memory"] == "over"]
        for r in bad[:20]:
            print("  ", r["scenario"], r["case"], r["mutation"], r["outcome"], r["exit"], r["stderr"][:1])
        sys.exit(1 if bad else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
