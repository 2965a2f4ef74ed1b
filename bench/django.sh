#!/usr/bin/env bash
# django-cfg 1.7.87, the seed's system, for side-by-side benchmarks.
#
#   bench/django.sh install              venv in bench/.django/ (git-ignored): the pins of
#                                        bench/django/requirements.txt, then django-cfg==1.7.87
#                                        (--no-deps --ignore-requires-python), checked and migrated.
#                                        Does nothing when already done for the same pins.
#   bench/django.sh serve bare|full PORT uvicorn with 2 workers (DJANGO_WORKERS), uvloop, httptools,
#                                        no access log, on 127.0.0.1:PORT; execs, so the caller's
#                                        pid is uvicorn's. POST /centrifugo/rpc/ is django-cfg's
#                                        RPCProxyView with the echo handler (bench/django/echo_rpc).
#
# The two projects (bench/django/):
#   bare  the view alone in a bare Django: no middleware, no database;
#   full  a django-cfg project as its docs set one up: DjangoConfig defaults (its default apps and
#         middleware, production mode), SQLite, Centrifugo enabled.
# 1.7.87 is the last django-cfg that ships the proxy view. It declares Python >= 3.12 and runs on
# 3.11 (PYTHON picks the interpreter, default python3). Any failure here is fatal: a benchmark
# that cannot install django-cfg says so instead of leaving its row out.
set -euo pipefail
cd "$(dirname "$0")"
BENCH=$PWD
VENV=$BENCH/.django/venv
MARK=$BENCH/.django/installed
DJANGO_CFG_VERSION=1.7.87

die() { echo "bench/django.sh: $*" >&2; exit 1; }

install() {
  local want
  want="django-cfg==$DJANGO_CFG_VERSION $(sha256sum django/requirements.txt | cut -c1-16) $(cat django/*/*.py | sha256sum | cut -c1-16)"
  if [ -f "$MARK" ] && [ "$(cat "$MARK")" = "$want" ] && [ -x "$VENV/bin/uvicorn" ]; then return 0; fi
  local py=${PYTHON:-python3}
  command -v "$py" >/dev/null || die "$py not found (set PYTHON to a Python 3.11+ interpreter)"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$py is older than 3.11"
  echo "bench/django.sh: installing django-cfg $DJANGO_CFG_VERSION into bench/.django/venv (once; about a minute)" >&2
  rm -f "$MARK"
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV" || die "could not create $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r django/requirements.txt \
    || die "pip could not install the pins of bench/django/requirements.txt"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --ignore-requires-python "django-cfg==$DJANGO_CFG_VERSION" \
    || die "pip could not install django-cfg==$DJANGO_CFG_VERSION"
  # The modules the seed's proxy is made of must be there, at this version.
  (cd django && PYTHONPATH=. "$VENV/bin/python" - "$DJANGO_CFG_VERSION" <<'PY'
import importlib.metadata, os, sys
have = importlib.metadata.version("django-cfg")
if have != sys.argv[1]:
    sys.exit(f"django-cfg {have} installed, {sys.argv[1]} wanted")
os.environ["DJANGO_SETTINGS_MODULE"] = "bare_project.settings"
import django
django.setup()
from django_cfg.apps.integrations.centrifugo.views.rpc_proxy import RPCProxyView  # noqa: F401
from django_cfg.apps.integrations.centrifugo.router import get_global_router
import bare_project.urls  # noqa: F401
if not get_global_router().has_handler("echo"):
    sys.exit("the echo handler did not register with @websocket_rpc")
PY
  ) >"$BENCH/.django/check.log" 2>&1 || { tail -20 "$BENCH/.django/check.log" >&2; die "django-cfg $DJANGO_CFG_VERSION does not import (log: bench/.django/check.log)"; }
  (cd django && PYTHONPATH=. DJANGO_SETTINGS_MODULE=full_project.settings "$VENV/bin/python" manage.py migrate --noinput) \
    >"$BENCH/.django/migrate.log" 2>&1 || { tail -20 "$BENCH/.django/migrate.log" >&2; die "migrating the full project failed (log: bench/.django/migrate.log)"; }
  echo "$want" > "$MARK"
}

serve() {
  local project=$1 port=$2
  case $project in bare|full) ;; *) die "serve: project is bare or full, not '$project'" ;; esac
  [ -x "$VENV/bin/uvicorn" ] || die "not installed: run bench/django.sh install"
  cd django
  PYTHONPATH=. exec "$VENV/bin/uvicorn" "${project}_project.asgi:application" --host 127.0.0.1 --port "$port" \
    --workers "${DJANGO_WORKERS:-2}" --loop uvloop --http httptools --no-access-log --log-level warning
}

case ${1:-} in
  install) install ;;
  serve) [ $# -eq 3 ] || die "usage: bench/django.sh serve bare|full PORT"; serve "$2" "$3" ;;
  *) die "usage: bench/django.sh install | serve bare|full PORT" ;;
esac
