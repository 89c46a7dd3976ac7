#!/usr/bin/env python3
"""Print the test executables that `cargo test --workspace` built, one per line, as
`<package dir>\t<executable>`, for the integration-test targets named on the command line
as `package:target` (`package:*` for all of a package's integration tests).

scripts/test-all.sh runs the behaviour suites a second time on PostgreSQL with these very
executables: asking cargo for `-p tollgate --test '*'` instead resolves dependency features
for that one package, not the workspace, and compiles every dependency a second time (that
second build is what filled a CI machine's disk)."""
import json
import os
import subprocess
import sys

wanted = [a.split(":", 1) for a in sys.argv[1:]]
out = subprocess.run(
    ["cargo", "test", "--workspace", "--no-run", "--message-format=json", "--quiet"],
    check=True,
    stdout=subprocess.PIPE,
    text=True,
).stdout
meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
)
name_of = {p["manifest_path"]: p["name"] for p in meta["packages"]}
found = []
for line in out.splitlines():
    try:
        msg = json.loads(line)
    except json.JSONDecodeError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    target = msg["target"]
    if target.get("kind") != ["test"]:
        continue
    manifest = msg.get("manifest_path", "")
    package_dir = os.path.dirname(manifest)
    package = name_of.get(manifest)
    for pkg, name in wanted:
        if pkg == package and name in ("*", target["name"]):
            found.append((package_dir, msg["executable"], f"{pkg}:{target['name']}"))
missing = [f"{p}:{n}" for p, n in wanted if n != "*" and not any(f[2] == f"{p}:{n}" for f in found)]
if missing:
    sys.exit(f"test-binaries: no executable for {', '.join(missing)}")
if not found:
    sys.exit("test-binaries: nothing matched")
for package_dir, exe, _ in sorted(set(found)):
    print(f"{package_dir}\t{exe}")
