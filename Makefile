# plughost tasks.

.PHONY: plugins rust-plugins test-plugins wasm-target clean-plugins

# ---------------------------------------------------------------------------
# Guest side: plugin components (wasm32-wasip2)
#
#   make plugins        builds plugins/<name>/ and installs plugins/<name>.wasm: Rust crates
#                       (rust-plugins), Python app.py (py-plugins) and JS/TS index.{js,ts}
#                       (js-plugins), each with its own toolchain in an ignored folder
#   make test-plugins   builds tests/plugins/<name>/ and installs tests/plugins/<name>.wasm
#                       (versioned twice: versioned-v1.wasm and versioned-v2.wasm)
#
# Each folder's Rust crates are a Cargo workspace of their own, built by one cargo call into
# its own target/.
# ---------------------------------------------------------------------------

WASM_TARGET := wasm32-wasip2
CARGO ?= cargo

# Every crate folder is a plugin; the installed file is named after the folder.
PLUGINS  := $(patsubst plugins/%/Cargo.toml,%,$(wildcard plugins/*/Cargo.toml))
FIXTURES := $(filter-out versioned,$(patsubst tests/plugins/%/Cargo.toml,%,$(wildcard tests/plugins/*/Cargo.toml)))

# $(call wasm_build,<workspace dir>,<extra cargo args>,<env assignments>)
wasm_build = cd $(1) && $(3) $(CARGO) build --release --target $(WASM_TARGET) $(2)

# $(call wasm_install,<workspace dir>,<crate>,<installed name>): copies the crate's component to
# <dir>/<name>.wasm. A host may be watching the folder: write a temp name it ignores and rename
# it over the old file (atomic), and leave an unchanged file alone so it does not reload.
wasm_install = src="$(1)/target/$(WASM_TARGET)/release/$(subst -,_,$(2)).wasm"; \
	dst="$(1)/$(3).wasm"; tmp="$(1)/.$(3).wasm.tmp"; \
	if cmp -s "$$src" "$$dst"; then echo "  $$dst unchanged"; \
	else cp "$$src" "$$tmp"; mv -f "$$tmp" "$$dst"; echo "  installed $$dst ($$(wc -c < "$$dst") bytes)"; fi;

wasm-target:
	@if [ ! -d "$$(rustc --print sysroot)/lib/rustlib/$(WASM_TARGET)" ]; then \
		rustup target add $(WASM_TARGET) || sh ../shared/toolchain/install-wasm32-wasip2.sh; \
	fi

plugins: rust-plugins py-plugins js-plugins

rust-plugins: wasm-target
	$(call wasm_build,plugins)
	@set -e; $(foreach p,$(PLUGINS),$(call wasm_install,plugins,$(p),$(p)))

# `versioned` reads PLUGHOST_FIXTURE_VERSION at build time (cargo tracks it and rebuilds).
test-plugins: wasm-target py-fixtures js-fixtures
	$(call wasm_build,tests/plugins,,PLUGHOST_FIXTURE_VERSION=1)
	@set -e; $(foreach p,$(FIXTURES),$(call wasm_install,tests/plugins,$(p),$(p)))
	@set -e; $(call wasm_install,tests/plugins,versioned,versioned-v1)
	$(call wasm_build,tests/plugins,-p versioned,PLUGHOST_FIXTURE_VERSION=2)
	@set -e; $(call wasm_install,tests/plugins,versioned,versioned-v2)

clean-plugins:
	rm -rf plugins/target tests/plugins/target
	rm -f plugins/*.wasm tests/plugins/*.wasm

# ---------------------------------------------------------------------------
# Host side: the two commands of the README
#
#   make run    builds everything and starts Centrifugo + plughost (+ terminal agent)
#   make test   builds everything and runs every test (Rust, Node through real Centrifugo), then
#               make bench-smoke (every benchmark script for about a second)
# ---------------------------------------------------------------------------

.PHONY: run test host centrifugo node-deps system-deps

CENTRIFUGO_VERSION := v6.9.1
CENTRIFUGO_BIN := .tools/bin/centrifugo

# Built from the Go module proxy once, then reused.
$(CENTRIFUGO_BIN):
	GOBIN="$(CURDIR)/.tools/bin" go install github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION)

centrifugo: $(CENTRIFUGO_BIN)

# One profile (release) for everything: wasmtime is slow to build twice.
host:
	$(CARGO) build --release --workspace --bins

tests/node/node_modules/.package-lock.json: tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund

node-deps: tests/node/node_modules/.package-lock.json

run: plugins host centrifugo web
	./scripts/run.sh

test: system-deps plugins test-plugins host centrifugo node-deps web sdk-tests
	$(CARGO) test --release --workspace
# The example plugins' native unit tests (plughost_sdk::testing), in the dev profile: the
# plugins' release profile (lto) is for their components.
	cd plugins && $(CARGO) test
	cd tests/node && node --test --test-concurrency=1
	bench/smoke.sh

# Every benchmark script for about a second each, every reply checked; fails on any failed reply
# (bench/smoke.sh; `make test` runs it). `cargo test --no-run` builds the examples it runs.
.PHONY: bench-smoke
bench-smoke: system-deps plugins test-plugins host centrifugo node-deps web
	$(CARGO) test --release --workspace --no-run
	bench/smoke.sh

# ---------------------------------------------------------------------------
# Browser terminal (web/) and what its browser test needs
#
#   make web          generates the typed RPC client from plugins/ into web/src/gen/ (plughost
#                     codegen; git-ignored), type-checks web/src and bundles it with esbuild into
#                     web/dist/ (git-ignored); plughost serves it at /terminal/ when
#                     web_dir = "web/dist" (scripts/run.sh sets it)
#   make system-deps  installs Debian's chromium, redis-server and openssl when missing
# ---------------------------------------------------------------------------

.PHONY: web system-deps

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web: web/node_modules/.package-lock.json plugins host
	target/release/plughost codegen --lang ts --out web/src/gen --plugins plugins
	cd web && node build.mjs

# Debian packages the tests start themselves: chromium (browser test), redis-server (multi-node),
# valgrind and wrk (bench-smoke).
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v valgrind >/dev/null || missing="$$missing valgrind"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@test -x /usr/bin/chromium || { echo "chromium is still missing at /usr/bin/chromium" >&2; exit 1; }
	@command -v redis-server >/dev/null || { echo "redis-server is still missing" >&2; exit 1; }
	@command -v openssl >/dev/null || { echo "openssl is still missing" >&2; exit 1; }
	@command -v valgrind >/dev/null || { echo "valgrind is still missing" >&2; exit 1; }
	@command -v wrk >/dev/null || { echo "wrk is still missing" >&2; exit 1; }
	@# perf only serves bench/profile.sh, which bench-smoke skips (saying so) where perf cannot sample.
	@command -v perf >/dev/null || { { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq linux-perf; } >/dev/null 2>&1 \
		|| echo "note: linux-perf could not be installed; bench/profile.sh will be skipped"; }

# ---------------------------------------------------------------------------
# Python plugins (part of `make plugins` and `make test-plugins`)
#
#   make py-plugins     installs componentize-py (and pytest, for the SDK's tests) into the
#                       ignored venv .tools/py-venv and builds every plugins/<name>/app.py into
#                       plugins/<name>.wasm, importing only what plugins/<name>.toml grants
#                       (plugin-sdk-py/build.py); tests/plugins/<name>/app.py likewise
# ---------------------------------------------------------------------------

.PHONY: py-plugins py-fixtures

PY_VENV := .tools/py-venv
COMPONENTIZE_PY_VERSION := 0.25.1
PYTEST_VERSION := 8.4.2
COMPONENTIZE_PY_STAMP := $(PY_VENV)/.componentize-py-$(COMPONENTIZE_PY_VERSION)-pytest-$(PYTEST_VERSION)
PY_PLUGINS := $(patsubst plugins/%/app.py,%,$(wildcard plugins/*/app.py))
PY_FIXTURES := $(patsubst tests/plugins/%/app.py,%,$(wildcard tests/plugins/*/app.py))
PY_PLUGIN_DEPS := $(wildcard plugin-sdk-py/plughost_sdk/*.py) plugin-sdk-py/build.py \
	$(wildcard wit/*.wit wit/deps/*/*.wit)

$(COMPONENTIZE_PY_STAMP):
	python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install --quiet componentize-py==$(COMPONENTIZE_PY_VERSION) pytest==$(PYTEST_VERSION)
	touch $@

# A stamp per plugin (build.py leaves an unchanged .wasm untouched, so a watching host does not
# reload it, and it cannot be the target).
$(PY_VENV)/built/%.stamp: plugins/%/app.py $(wildcard plugins/*.toml) $(PY_PLUGIN_DEPS) $(COMPONENTIZE_PY_STAMP)
	COMPONENTIZE_PY=$(PY_VENV)/bin/componentize-py python3 plugin-sdk-py/build.py plugins/$* -o plugins/$*.wasm
	@mkdir -p $(@D) && touch $@

$(PY_VENV)/built/fixture-%.stamp: tests/plugins/%/app.py $(PY_PLUGIN_DEPS) $(COMPONENTIZE_PY_STAMP)
	COMPONENTIZE_PY=$(PY_VENV)/bin/componentize-py python3 plugin-sdk-py/build.py tests/plugins/$* -o tests/plugins/$*.wasm
	@mkdir -p $(@D) && touch $@

# A fixture's grants may come from tests/plugins/<name>/manifest.toml.
$(foreach p,$(PY_FIXTURES),$(eval $(PY_VENV)/built/fixture-$(p).stamp: $(wildcard tests/plugins/$(p)/*.toml)))

py-plugins: $(patsubst %,$(PY_VENV)/built/%.stamp,$(PY_PLUGINS))
py-fixtures: $(patsubst %,$(PY_VENV)/built/fixture-%.stamp,$(PY_FIXTURES))

# ---------------------------------------------------------------------------
# JavaScript/TypeScript plugins (part of `make plugins`)
#
#   make js-plugins     installs componentize-js, jco, rolldown and zod (pinned by
#                       plugin-sdk-js/package-lock.json) into the ignored plugin-sdk-js/node_modules
#                       and builds every plugins/<name>/index.{js,ts} into plugins/<name>.wasm,
#                       importing only what plugins/<name>.toml grants
#                       (plugin-sdk-js/bin/plughost-js-build.js); tests/plugins/<name>/index.js
#                       likewise (js-fixtures, grants from tests/plugins/<name>/<name>.toml)
# ---------------------------------------------------------------------------

.PHONY: js-plugins js-fixtures

JS_SDK := plugin-sdk-js
# starlingmonkey (componentize-js) or quickjs (componentize-qjs: smaller and faster, sync only, no http)
JS_ENGINE ?= starlingmonkey
JS_TOOLCHAIN := $(JS_SDK)/node_modules/.package-lock.json
JS_PLUGINS := $(sort $(patsubst plugins/%/index.js,%,$(wildcard plugins/*/index.js)) \
	$(patsubst plugins/%/index.ts,%,$(wildcard plugins/*/index.ts)))
JS_PLUGIN_DEPS := $(wildcard $(JS_SDK)/src/*.js) $(JS_SDK)/bin/plughost-js-build.js \
	$(wildcard wit/*.wit wit/deps/*/*.wit)

$(JS_TOOLCHAIN): $(JS_SDK)/package.json $(JS_SDK)/package-lock.json
	cd $(JS_SDK) && npm ci --no-audit --no-fund
	@touch $@

# A stamp per plugin, as for Python.
JS_BUILT := $(JS_SDK)/node_modules/.plughost-built
$(foreach p,$(JS_PLUGINS),$(eval $(JS_BUILT)/$(p).stamp: $(wildcard plugins/$(p)/*.js plugins/$(p)/*.ts plugins/$(p).toml)))

$(JS_BUILT)/%.stamp: $(JS_TOOLCHAIN) $(JS_PLUGIN_DEPS)
	node $(JS_SDK)/bin/plughost-js-build.js $(firstword $(wildcard plugins/$*/index.ts plugins/$*/index.js)) -o plugins/$*.wasm --engine $(JS_ENGINE)
	@mkdir -p $(@D) && touch $@

js-plugins: $(patsubst %,$(JS_BUILT)/%.stamp,$(JS_PLUGINS))

# Fixtures always build with StarlingMonkey: they may use fetch, which QuickJS lacks.
JS_FIXTURES := $(sort $(patsubst tests/plugins/%/index.js,%,$(wildcard tests/plugins/*/index.js)) \
	$(patsubst tests/plugins/%/index.ts,%,$(wildcard tests/plugins/*/index.ts)))
$(foreach p,$(JS_FIXTURES),$(eval $(JS_BUILT)/fixture-$(p).stamp: $(wildcard tests/plugins/$(p)/*.js tests/plugins/$(p)/*.ts tests/plugins/$(p)/*.toml)))

$(JS_BUILT)/fixture-%.stamp: $(JS_TOOLCHAIN) $(JS_PLUGIN_DEPS)
	node $(JS_SDK)/bin/plughost-js-build.js $(firstword $(wildcard tests/plugins/$*/index.ts tests/plugins/$*/index.js)) -o tests/plugins/$*.wasm --engine starlingmonkey
	@mkdir -p $(@D) && touch $@

js-fixtures: $(patsubst %,$(JS_BUILT)/fixture-%.stamp,$(JS_FIXTURES))

# The SDKs' own tests and the JS example's native tests (`make test` runs them).
.PHONY: sdk-tests
JS_EXAMPLES_NODE_MODULES := $(patsubst %,plugins/%/node_modules/.package-lock.json,$(JS_PLUGINS))
plugins/%/node_modules/.package-lock.json: plugins/%/package.json $(JS_TOOLCHAIN)
	cd plugins/$* && npm install --no-audit --no-fund
	@touch $@
sdk-tests: $(COMPONENTIZE_PY_STAMP) $(JS_TOOLCHAIN) $(JS_EXAMPLES_NODE_MODULES)
	$(PY_VENV)/bin/python -m pytest -q plugin-sdk-py/tests
	cd $(JS_SDK) && npm test
	@set -e; for p in $(JS_PLUGINS); do (cd plugins/$$p && npm test); done
