#!/usr/bin/env python3
"""Copy a finished study's page into the docs: README.md, study.json and every figure the page
shows (PNG, same relative paths, so the page's links keep working), e.g.

    python3 scripts/publish_study.py out/studies/paper000-sgdr-barrier-full docs/reproductions/paper000-sgdr-barrier

The destination must be new or hold an earlier copy of the same study (its study.json); the
runs and analyses (checkpoints, CSV, result.json) stay in the study folder."""
import json
import os
import shutil
import sys

if len(sys.argv) != 3:
    sys.exit(__doc__)
source, dest = sys.argv[1], sys.argv[2]
try:
    with open(os.path.join(source, "study.json")) as f:
        record = json.load(f)
except (OSError, ValueError) as error:
    sys.exit(f"Error: {source}/study.json: {error}")
if os.path.exists(dest):
    try:
        with open(os.path.join(dest, "study.json")) as f:
            existing = json.load(f).get("study")
    except (OSError, ValueError):
        existing = None
    if existing != record["study"]:
        sys.exit(f"Error: {dest}: not an earlier copy of {record['study']}; choose a new folder")
    shutil.rmtree(dest)
os.makedirs(dest)
for name in ["README.md", "study.json"] + record["figures"]:
    target = os.path.join(dest, name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(os.path.join(source, name), target)
print(f"published {record['study']} ({len(record['figures'])} figures) to {dest}")
