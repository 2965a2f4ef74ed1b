#!/usr/bin/env node
// Builds a JavaScript/TypeScript plugin into a plughost component:
//
//   plughost-js-build <plugin.js|.ts> -o <out.wasm> [--manifest <name.toml>] [--wit <dir>]
//                     [--http-wit <dir>] [--engine starlingmonkey|quickjs]
//
// 1. reads the manifest's `grants` (default: `<out name>.toml` beside the entry's folder):
//    the component imports only the interfaces those grants allow (log and wasi:cli/exit
//    always), since the host refuses a plugin importing what its manifest does not grant;
// 2. writes a WIT world of exactly those imports (plus the handler export) and an entry that
//    wires them into the SDK and re-exports `handler`;
// 3. bundles entry, plugin, SDK and zod into one ES module (rolldown; TypeScript is stripped);
// 4. componentizes it: with componentize-js (StarlingMonkey, the default), or with
//    componentize-qjs (QuickJS, `--engine quickjs`: a 3 MB component instead of 14 MB,
//    compiled in 2 s instead of 10-14 s, about half the per-call time; sync handlers only, so
//    no "http" grant, whose API is awaited).
//
// The "http" grant imports wasi:http/outgoing-handler and wasi:http/types at the version of
// the host's wasmtime-wasi-http WIT (found in cargo's registry, as plugin-sdk-py/build.py
// does); the SDK's http client calls them directly. wasi:cli/exit comes from the same WIT:
// the SDK calls it to trap on an exception that is not an RpcError.

import { componentize } from "@bytecodealliance/componentize-js";
import { execFileSync, spawnSync } from "node:child_process";
import { rolldown } from "rolldown";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SDK = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REPO = resolve(SDK, "..");
const CONTRACT = "0.1.2";

/** WIT imports (and the SDK's name for each) per grant; `log` needs none. */
const IMPORTS = {
  log: [["log", `plughost:rpc/log@${CONTRACT}`]],
  config: [["config", `plughost:rpc/config@${CONTRACT}`]],
  publish: [["publish", `plughost:rpc/publish@${CONTRACT}`]],
  terminal: [["terminal", `plughost:rpc/terminal@${CONTRACT}`]],
  kv: [
    ["store", "wasi:keyvalue/store@0.2.0-draft"],
    ["atomics", "wasi:keyvalue/atomics@0.2.0-draft"],
    ["batch", "wasi:keyvalue/batch@0.2.0-draft"],
    ["kvTtl", `plughost:rpc/kv-ttl@${CONTRACT}`],
  ],
  // The version is that of the host's wasi:http WIT, found at build time (httpWit).
  http: [
    ["outgoingHandler", "wasi:http/outgoing-handler@{http}"],
    ["httpTypes", "wasi:http/types@{http}"],
  ],
};

// The crate whose WIT is the wasi:http the host implements (as plugin-sdk-py/build.py).
const HTTP_CRATE = "wasmtime-wasi-http";

/**
 * The folder of `wasi:*` WIT packages (http and those it uses, one file each) the host's
 * wasmtime-wasi-http was built from: `--http-wit`, PLUGHOST_WASI_HTTP_WIT, or that crate (its
 * version from Cargo.lock) in cargo's registry. Not vendored: it would drift from the host.
 */
function httpWit(explicit) {
  explicit = explicit ?? process.env.PLUGHOST_WASI_HTTP_WIT;
  let found;
  if (explicit) {
    found = resolve(explicit);
  } else {
    const lock = readFileSync(join(REPO, "Cargo.lock"), "utf8");
    const m = new RegExp(`^name = "${HTTP_CRATE}"\nversion = "([^"]+)"`, "m").exec(lock);
    if (!m) throw new Error(`no ${HTTP_CRATE} in Cargo.lock; give --http-wit`);
    const registry = join(process.env.CARGO_HOME ?? join(homedir(), ".cargo"), "registry", "src");
    const hits = () =>
      (existsSync(registry) ? readdirSync(registry) : [])
        .map((index) => join(registry, index, `${HTTP_CRATE}-${m[1]}`, "wit", "deps"))
        .filter((p) => existsSync(join(p, "http.wit")))
        .sort();
    let dirs = hits();
    if (dirs.length === 0) {
      // A clean checkout may build JS plugins before the host: fetch its crates.
      console.error(`plughost-js-build: fetching the host's crates for ${HTTP_CRATE}'s WIT (cargo fetch)`);
      spawnSync("cargo", ["fetch", "--locked", "--manifest-path", join(REPO, "Cargo.toml")], { stdio: "inherit" });
      dirs = hits();
    }
    if (dirs.length === 0) {
      throw new Error(`${HTTP_CRATE} ${m[1]}'s WIT is not in cargo's registry (${registry}); run \`cargo fetch\` in the repository, or give --http-wit`);
    }
    found = dirs[0];
  }
  const text = existsSync(join(found, "http.wit")) ? readFileSync(join(found, "http.wit"), "utf8") : "";
  const v = /^package\s+wasi:http@([^;\s]+);/m.exec(text);
  if (!v) throw new Error(`${join(found, "http.wit")} is not the wasi:http package`);
  const cli = existsSync(join(found, "cli.wit")) ? /^package\s+wasi:cli@([^;\s]+);/m.exec(readFileSync(join(found, "cli.wit"), "utf8")) : null;
  if (!cli) throw new Error(`${join(found, "cli.wit")} is not the wasi:cli package`);
  return { dir: found, version: v[1], cliVersion: cli[1] };
}

function usage(message) {
  if (message) console.error(`plughost-js-build: ${message}`);
  console.error(
    "usage: plughost-js-build <plugin.js|.ts> -o <out.wasm> [--manifest <name.toml>] [--wit <dir>] [--http-wit <dir>] [--engine starlingmonkey|quickjs]",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const args = { entry: undefined, out: undefined, manifest: undefined, wit: resolve(SDK, "..", "wit"), httpWit: undefined, engine: "starlingmonkey" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-o" || a === "--out") args.out = argv[++i];
    else if (a === "--manifest") args.manifest = argv[++i];
    else if (a === "--wit") args.wit = argv[++i];
    else if (a === "--http-wit") args.httpWit = argv[++i];
    else if (a === "--engine") args.engine = argv[++i];
    else if (a === "-h" || a === "--help") usage();
    else if (a.startsWith("-")) usage(`unknown option ${a}`);
    else if (!args.entry) args.entry = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!args.entry || !args.out) usage("an entry file and -o are required");
  if (!["starlingmonkey", "quickjs"].includes(args.engine)) usage(`unknown engine ${args.engine}`);
  return args;
}

/** The `grants = [...]` of a manifest (TOML's array of strings, possibly over lines). */
export function grantsOf(toml) {
  const m = /^\s*grants\s*=\s*\[([^\]]*)\]/m.exec(toml.replace(/#[^\n"]*$/gm, ""));
  if (!m) return [];
  return [...m[1].matchAll(/"([^"]*)"|'([^']*)'/g)].map((g) => g[1] ?? g[2]);
}

function witWorld(interfaces) {
  const lines = interfaces.map(([, name]) => `  import ${name};`);
  return `package plughost-js:build;\n\nworld plugin {\n${lines.join("\n")}\n  export plughost:rpc/handler@${CONTRACT};\n}\n`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const entry = resolve(args.entry);
  const out = resolve(args.out);
  const name = basename(out, extname(out));
  const manifest = args.manifest
    ? resolve(args.manifest)
    : [join(dirname(entry), "..", `${name}.toml`), join(dirname(entry), `${name}.toml`)].find((p) => existsSync(p));
  const grants = manifest ? grantsOf(readFileSync(manifest, "utf8")) : [];
  const http = grants.includes("http");
  if (http && args.engine === "quickjs") {
    throw new Error('the SDK\'s http is async, which --engine quickjs cannot wait for: a plugin granted "http" builds with --engine starlingmonkey');
  }
  // Every plugin imports wasi:cli/exit (the host links wasi:cli for all): an unexpected
  // exception ends the call with exit(err), a trap the host counts as a fault.
  const wasi = httpWit(args.httpWit);
  const wasiHttp = http ? wasi : undefined;
  const interfaces = ["log", ...new Set(grants)]
    .flatMap((g) => IMPORTS[g] ?? [])
    .map(([short, name]) => [short, name.replace("{http}", wasiHttp?.version)]);
  interfaces.push(["exit", `wasi:cli/exit@${wasi.cliVersion}`]);

  const work = mkdtempSync(join(tmpdir(), "plughost-js-"));
  try {
    // The world: only the granted imports, so the host's import check passes.
    const wit = join(work, "wit");
    mkdirSync(join(wit, "deps", "plughost-rpc"), { recursive: true });
    cpSync(join(args.wit, "plughost.wit"), join(wit, "deps", "plughost-rpc", "plughost.wit"));
    cpSync(join(args.wit, "deps", "keyvalue"), join(wit, "deps", "keyvalue"), { recursive: true });
    // wasi:cli (for exit) and, with the grant, wasi:http, with the packages they use.
    for (const f of readdirSync(wasi.dir).filter((f) => f.endsWith(".wit"))) {
      cpSync(join(wasi.dir, f), join(wit, "deps", f));
    }
    writeFileSync(join(wit, "world.wit"), witWorld(interfaces));

    // The entry: the granted interfaces wired into the SDK, the plugin, the handler export.
    const entryFile = join(work, "entry.js");
    const imports = interfaces.map(([short, name]) => `import * as ${short} from "${name}";`);
    writeFileSync(
      entryFile,
      [
        ...imports,
        `import { setHost } from ${JSON.stringify(join(SDK, "src", "host.js"))};`,
        `setHost({ ${[...interfaces.map(([s]) => s), `asyncExports: ${args.engine !== "quickjs"}`].join(", ")} });`,
        `import ${JSON.stringify(entry)};`,
        `export { handler } from ${JSON.stringify(join(SDK, "src", "index.js"))};`,
        "",
      ].join("\n"),
    );

    const bundle = await rolldown({
      input: entryFile,
      external: [/^plughost:/, /^wasi:/],
      resolve: {
        alias: {
          "@plughost/sdk": join(SDK, "src", "index.js"),
          zod: join(SDK, "node_modules", "zod"),
        },
      },
      platform: "neutral",
      // Paths in the bundle's comments relative to the work folder: the same every build.
      cwd: work,
      logLevel: "warn",
    });
    const bundled = join(work, "bundle.js");
    await bundle.write({ file: bundled, format: "esm", codeSplitting: false });
    await bundle.close();

    let component;
    if (args.engine === "quickjs") {
      const output = join(work, "component.wasm");
      // --sync: plain (not component-model async) exports, which the host calls.
      execFileSync(join(SDK, "node_modules", ".bin", "componentize-qjs"),
        ["--wit", wit, "--js", bundled, "--world", "plugin", "--sync", "--output", output],
        { stdio: ["ignore", "ignore", "inherit"] });
      component = readFileSync(output);
    } else {
      // StarlingMonkey's own wasi:http (its fetch) only with the grant. With it on, the world's
      // wasi:http imports (the host's version) and the engine's are one import, and fetch
      // still works beside the SDK's client; with it off, the imports work and fetch traps.
      const disableFeatures = http ? ["fetch-event"] : ["http", "fetch-event"];
      ({ component } = await componentize({
        sourcePath: bundled,
        witPath: wit,
        worldName: "plugin",
        disableFeatures,
      }));
    }
    mkdirSync(dirname(out), { recursive: true });
    const bytes = Buffer.from(component);
    if (existsSync(out) && readFileSync(out).equals(bytes)) {
      console.error(`plughost-js-build: ${out} unchanged`);
      return;
    }
    // Written beside and renamed in, so a watching host never loads half a file.
    const tmp = `${out}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, out);
    console.error(
      `plughost-js-build: ${out} (${args.engine}, ${(component.length / 1e6).toFixed(1)} MB; imports ${interfaces.map(([, n]) => n).join(", ")})`,
    );
  } finally {
    // PLUGHOST_JS_KEEP=1 keeps the generated world, entry and bundle (for debugging a build).
    if (process.env.PLUGHOST_JS_KEEP) console.error(`plughost-js-build: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`plughost-js-build: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
  });
}
