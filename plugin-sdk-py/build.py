#!/usr/bin/env python3
"""Builds a Python plugin into a plughost component with componentize-py.

    python3 plugin-sdk-py/build.py plugins/pyecho -o plugins/pyecho.wasm

The plugin folder holds `app.py` (the handlers). The component imports only what its
manifest grants (`<out>.toml` beside the output, else `manifest.toml` in the plugin folder,
or --manifest): componentize-py binds every import of the world it targets, so the build
targets a world of the `plughost:rpc` package narrowed to those grants; the host would
refuse the full `plugin` world's imports (config, publish, terminal, kv) on a plugin not
granted them all.

The `http` grant imports the standard `wasi:http/outgoing-handler`. Its WIT is not copied
into this repository: it is taken from the wasmtime-wasi-http crate the host is built with
(its version from Cargo.lock, found in cargo's registry), or from --http-wit /
PLUGHOST_WASI_HTTP_WIT, a folder of the `wasi:*` WIT packages it needs, one file each
(`http.wit`, `io.wit`, ...), as that crate's `wit/deps` holds them.
"""

import argparse
import glob
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
    # The version is the one of the WIT found at build time (see http_wit).
    "http": ["import wasi:http/outgoing-handler@{http};"],
}

# The component's entry module. The component has no files at run time (the host gives it
# none), so a module not imported while componentize-py snapshots it cannot be imported
# later: every binding of the (already narrowed) world is imported here, since the SDK
# imports them lazily and componentize-py itself pre-imports only those defining types.
ENTRY = """\
import importlib as _importlib
import os as _os

import wit_world.imports as _imports

for _name in sorted(_os.listdir(_imports.__path__[0])):
    if _name.endswith(".py") and _name != "__init__.py":
        _importlib.import_module("wit_world.imports." + _name[:-3])

import app  # noqa: E402,F401  (runs the @rpc / @subscribe decorators)
from plughost_sdk.component import Handler  # noqa: E402,F401
"""

# The crate whose WIT is the `wasi:http` the host implements.
HTTP_CRATE = "wasmtime-wasi-http"


def world_text(package: str, grants, http_version=None) -> str:
    lines = [f"package {package};", "", f"world {WORLD} {{", "    import log;"]
    for g in grants:
        if g not in IMPORTS:
            sys.exit(f"build.py: unknown grant {g!r}")
        lines += ["    " + line.format(http=http_version) for line in IMPORTS[g]]
    lines += ["    export handler;", "}", ""]
    return "\n".join(lines)


def http_wit(explicit) -> Path:
    """The folder of `wasi:*` WIT packages (http and what it uses) the host's
    wasmtime-wasi-http was built from."""
    explicit = explicit or os.environ.get("PLUGHOST_WASI_HTTP_WIT")
    if explicit:
        found = Path(explicit)
    else:
        lock = (REPO / "Cargo.lock").read_text()
        m = re.search(rf'^name = "{HTTP_CRATE}"\nversion = "([^"]+)"', lock, re.M)
        if not m:
            sys.exit(f"build.py: no {HTTP_CRATE} in Cargo.lock; give --http-wit")
        cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
        pattern = str(cargo_home / "registry" / "src" / "*" / f"{HTTP_CRATE}-{m.group(1)}" / "wit" / "deps")
        hits = sorted(glob.glob(pattern))
        if not hits and shutil.which("cargo"):
            # A clean checkout may build Python plugins before the host: fetch its crates.
            print(f"build.py: fetching the host's crates for {HTTP_CRATE}'s WIT (cargo fetch)", file=sys.stderr)
            subprocess.run(["cargo", "fetch", "--locked", "--manifest-path", str(REPO / "Cargo.toml")], check=False)
            hits = sorted(glob.glob(pattern))
        if not hits:
            sys.exit(f"build.py: {HTTP_CRATE} {m.group(1)}'s WIT is not in cargo's registry ({pattern}); "
                     "run `cargo fetch` in the repository, or give --http-wit")
        found = Path(hits[0])
    if not (found / "http.wit").exists():
        sys.exit(f"build.py: no http.wit in {found}")
    return found


def http_version(wit_dir: Path) -> str:
    """The version of the `wasi:http` package in `wit_dir`."""
    m = re.search(r"^package\s+wasi:http@([^;\s]+);", (wit_dir / "http.wit").read_text(), re.M)
    if not m:
        sys.exit(f"build.py: {wit_dir / 'http.wit'} is not the wasi:http package")
    return m.group(1)


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
    ap.add_argument("--manifest", type=Path, help="manifest whose grants decide the imports "
                    "(default: <output>.toml, else <plugin_dir>/manifest.toml)")
    ap.add_argument("--wit", type=Path, default=REPO / "wit", help="the contract's WIT folder")
    ap.add_argument("--http-wit", type=Path, help="folder of the wasi:http WIT packages (default: the host's "
                    f"{HTTP_CRATE} crate in cargo's registry)")
    args = ap.parse_args()

    manifest = args.manifest or args.output.with_suffix(".toml")
    if not args.manifest and not manifest.exists():
        # A test fixture's real manifest is written by its test; the folder says what to import.
        manifest = args.plugin_dir / "manifest.toml"
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
        names = []
        version = None
        if "http" in grants:
            wasi = http_wit(args.http_wit)
            version = http_version(wasi)
            for f in sorted(wasi.glob("*.wit")):
                shutil.copy(f, wit / "deps" / f.name)
            # Fixed module names: with two `types` interfaces componentize-py would otherwise
            # rename the contract's, which the SDK imports as `types`.
            contract_name, _, contract_version = package.partition("@")
            contract_types = f"{contract_name}/types" + (f"@{contract_version}" if contract_version else "")
            names = ["--import-interface-name", f"{contract_types}=types",
                     "--import-interface-name", f"wasi:http/types@{version}=http_types"]
        (wit / "zz-py-plugin.wit").write_text(world_text(package, grants, version))
        entry = tmp / "entry"
        entry.mkdir()
        (entry / "plughost_entry.py").write_text(ENTRY)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        # A host may be watching the folder: write a name it ignores, then rename it in.
        partial = args.output.with_name("." + args.output.name + ".tmp")
        cmd = [componentize_py(), "-q", "-d", str(wit), "-w", WORLD, *names, "componentize", "plughost_entry",
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
