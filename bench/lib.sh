# Sourced by the bench scripts: what every one of them needs before it starts a server.

# A loopback TCP port nobody listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Unsets PLUGHOST_* and CENTRIFUGO_* (and any extra prefixes given, e.g. BENCH): settings
# meant for other runs must not reach the servers a benchmark starts.
clear_env() {
  local prefixes="PLUGHOST|CENTRIFUGO" extra v
  for extra in "$@"; do prefixes="$prefixes|$extra"; done
  for v in $(compgen -e | grep -E "^($prefixes)_" || true); do unset "$v"; done
}
