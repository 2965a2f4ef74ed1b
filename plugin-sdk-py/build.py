#!/usr/bin/env python3
"""Builds a Python plugin into a plughost component with componentize-py.

    python3 plugin-sdk-py/build.py plugins/pyecho -o plugins/pyecho.wasm

The plugin folder holds `app.py` (the handlers). The component imports only what its
manifest grants (`<out>.toml` beside the output, or --manifest): componentize-py binds
every import of the world it targets, so the build targets a world of the `plughost:rpc`
package narrowed to those grants; the host would refuse the full `plugin` world's imports
(config, publish, terminal, kv) on a plugin not granted them all.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

SDK_DIR = Path(__file__).resolve().parent
REPO = SDK_DIR.parent
WORLD = "py-plugin"

# grant -> the world's import lines (log is always granted and always imported).
IMPORTS = {
    "config": ["import config;"],
    "publish": ["import publish;"],
    "terminal": ["import terminal;"],
    "kv": [
        "import wasi:keyvalue/store@0.2.0-draft;",
        "import wasi:keyvalue/atomics@0.2.0-draft;",
        "import wasi:keyvalue/batch@0.2.0-draft;",
        "import kv-ttl;",
    ],
    "clock": [],
}


def world_text(package: str, grants) -> str:
    lines = [f"package {package};", "", f"world {WORLD} {{", "    import log;"]
    for g in grants:
        if g == "http":
            sys.exit("build.py: the Python SDK has no HTTP capability yet; remove \"http\" from the grants")
        if g not in IMPORTS:
            sys.exit(f"build.py: unknown grant {g!r}")
        lines += ["    " + line for line in IMPORTS[g]]
    lines += ["    export handler;", "}", ""]
    return "\n".join(lines)


def componentize_py() -> str:
    explicit = os.environ.get("COMPONENTIZE_PY")
    if explicit:
        return explicit
    venv = REPO / ".tools" / "py-venv" / "bin" / "componentize-py"
    if venv.exists():
        return str(venv)
    found = shutil.which("componentize-py")
    if not found:
        sys.exit("build.py: componentize-py not found (make py-plugins installs it into .tools/py-venv)")
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plugin_dir", type=Path, help="folder holding app.py")
    ap.add_argument("-o", "--output", type=Path, required=True, help="the .wasm to write")
    ap.add_argument("--manifest", type=Path, help="manifest whose grants decide the imports (default: <output>.toml)")
    ap.add_argument("--wit", type=Path, default=REPO / "wit", help="the contract's WIT folder")
    args = ap.parse_args()

    manifest = args.manifest or args.output.with_suffix(".toml")
    grants = []
    if manifest.exists():
        with open(manifest, "rb") as f:
            grants = list(dict.fromkeys(tomllib.load(f).get("grants", [])))
    if not (args.plugin_dir / "app.py").exists():
        sys.exit(f"build.py: {args.plugin_dir}/app.py not found")

    contract = (args.wit / "plughost.wit").read_text()
    package = re.search(r"^package\s+([^;]+);", contract, re.M).group(1)

    with tempfile.TemporaryDirectory(prefix="plughost-py-") as tmp:
        tmp = Path(tmp)
        wit = tmp / "wit"
        shutil.copytree(args.wit, wit)
        (wit / "zz-py-plugin.wit").write_text(world_text(package, grants))
        entry = tmp / "entry"
        entry.mkdir()
        (entry / "plughost_entry.py").write_text(
            "import app  # noqa: F401  (runs the @rpc / @subscribe decorators)\n"
            "from plughost_sdk.component import Handler  # noqa: F401\n"
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        # A host may be watching the folder: write a name it ignores, then rename it in.
        partial = args.output.with_name("." + args.output.name + ".tmp")
        cmd = [componentize_py(), "-q", "-d", str(wit), "-w", WORLD, "componentize", "plughost_entry",
               "-p", str(entry), "-p", str(args.plugin_dir.resolve()), "-p", str(SDK_DIR),
               "-o", str(partial)]
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        subprocess.run(cmd, check=True, env=env)
        imports = "log" + "".join(", " + g for g in grants if IMPORTS.get(g))
        if args.output.exists() and args.output.read_bytes() == partial.read_bytes():
            # An unchanged file is left alone, so a watching host does not reload it.
            partial.unlink()
            print(f"  {args.output} unchanged (imports: {imports})")
            return
        os.replace(partial, args.output)
    print(f"  built {args.output} ({args.output.stat().st_size} bytes; imports: {imports})")


if __name__ == "__main__":
    main()
