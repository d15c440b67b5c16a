#!/usr/bin/env python3
"""Run a Basin analysis as shards on a Ray cluster, then merge them.

    python3 shard_with_ray.py --shards 64 -- plane run/ --pair 70,150 --grid 51 --out /shared/plane

Each shard is one Ray task running `analyze ANALYSIS --shard k/N --quiet`, with its output in
OUTDIR/shards/shard-k-of-N.log; when all have succeeded, `analyze merge OUTDIR --shards N` writes
result.json, the CSVs and the figures exactly as one unsharded process does. The analysis must
name its output folder with --out, and the run directory, that folder and the `analyze` binary
must be on storage every Ray node sees. Failed shards are listed (exit 1); running the same
command again reruns only the shards whose partial result is missing.

Ray is not a Basin dependency: `pip install ray` where you use this.
"""
import argparse
import os
import shutil
import subprocess
import sys


def output_folder(analysis):
    """The value of --out in the analysis' arguments, or None."""
    for i, word in enumerate(analysis):
        if word == "--out" and i + 1 < len(analysis):
            return analysis[i + 1]
        if word.startswith("--out="):
            return word[len("--out="):]
    return None


def run_shard(analyze, analysis, k, n, cwd, outdir):
    """Shard k of n as a child process; returns (k, exit status, the log's last line)."""
    log = os.path.join(outdir, "shards", f"shard-{k}-of-{n}.log")
    with open(log, "w") as out:
        status = subprocess.run([analyze] + analysis + ["--shard", f"{k}/{n}", "--quiet"],
                                cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    with open(log, errors="replace") as text:
        lines = [line.strip() for line in text if line.strip()]
    return k, status, (lines[-1] if lines else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, required=True, help="number of shards N")
    parser.add_argument("--analyze", default=shutil.which("analyze") or "analyze", help="the analyze binary (default: from PATH)")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--cpus-per-shard", type=float, default=1.0, help="CPUs Ray reserves per shard")
    parser.add_argument("analysis", nargs=argparse.REMAINDER, help="-- ANALYZER RUN [options], with --out OUTDIR")
    args = parser.parse_args()
    analysis = args.analysis[1:] if args.analysis[:1] == ["--"] else args.analysis
    if not analysis:
        parser.error("name the analysis after --, e.g. -- plane run/ --pair 70,150 --out /shared/plane")
    if args.shards < 1:
        parser.error("--shards must be at least 1")
    outdir = output_folder(analysis)
    if outdir is None:
        parser.error("give the analysis an --out folder (on storage every Ray node sees)")
    cwd = os.getcwd()
    analyze = os.path.abspath(args.analyze) if os.sep in args.analyze else (shutil.which(args.analyze) or args.analyze)
    outdir = os.path.join(cwd, outdir)
    os.makedirs(os.path.join(outdir, "shards"), exist_ok=True)
    n = args.shards
    todo = [k for k in range(1, n + 1) if not os.path.isfile(os.path.join(outdir, "shards", f"shard-{k}-of-{n}.json"))]

    import ray  # imported here so --help works without Ray
    ray.init(address=args.address)
    shard = ray.remote(num_cpus=args.cpus_per_shard)(run_shard)
    pending = [shard.remote(analyze, analysis, k, n, cwd, outdir) for k in todo]
    failed = []
    while pending:
        ready, pending = ray.wait(pending)
        for k, status, last in ray.get(ready):
            print(f"shard {k} of {n} {'done' if status == 0 else f'failed (exit {status}): {last}'}", file=sys.stderr)
            if status != 0:
                failed.append(k)
    if failed:
        print(f"shards {sorted(failed)} of {n} failed; logs in {outdir}/shards/; run this command again to rerun them", file=sys.stderr)
        return 1
    merge = subprocess.run([analyze, "merge", outdir, "--shards", str(n)], cwd=cwd)
    if merge.returncode == 0:
        print(f"merged {n} shards into {outdir}/result.json")
    return merge.returncode


if __name__ == "__main__":
    sys.exit(main())
