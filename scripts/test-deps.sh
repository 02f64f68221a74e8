#!/usr/bin/env bash
# Installs and starts what `npm test` needs, when it is missing, on Debian or Ubuntu:
#   - a Redis answering on 127.0.0.1:6379 (the queue tests use a real one), and the
#     redis-server and redis-cli binaries (test/faults starts a Cluster and Sentinel of its own),
#   - Debian's `prometheus` package (binaries prometheus, promtool),
#   - Debian's `prometheus-alertmanager` package (binaries prometheus-alertmanager, amtool);
#     test/e2e/peers.ts and test/e2e-configs.test.ts run these four binaries from PATH,
#   - Debian's `fonts-dejavu-core` (DejaVu Sans: the chart for Slack, src/publish/chart.ts,
#     is drawn in it, so test/chart.test.ts renders the same picture everywhere).
# Anything already there is left alone. Runs as root, or as a user with sudo (only the
# apt-get calls use it). `npm run setup:test` runs this script; so does .ci/run.
set -euo pipefail

REDIS_HOST=127.0.0.1
REDIS_PORT=6379

say() { printf 'test-deps: %s\n' "$*"; }
die() {
  printf 'test-deps: error: %s\n' "$*" >&2
  exit 1
}

# --- the machine -------------------------------------------------------------------------

os_id=''
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  os_id="$(. /etc/os-release && printf '%s %s' "${ID:-}" "${ID_LIKE:-}")"
fi
case " $os_id " in
  *' debian '* | *' ubuntu '*) ;;
  *)
    die "this script only knows Debian and Ubuntu (apt-get); this system says '${os_id:-nothing in /etc/os-release}'.
  Install these yourself, then run npm test:
    - Redis, answering on ${REDIS_HOST}:${REDIS_PORT}
    - Prometheus (binaries prometheus and promtool on PATH, or PROMETHEUS_BIN=/path/to/prometheus)
    - Alertmanager (binaries amtool and prometheus-alertmanager or alertmanager on PATH, or ALERTMANAGER_BIN=...)"
    ;;
esac
command -v apt-get >/dev/null || die "apt-get is not on PATH, although /etc/os-release says '$os_id'"

# --- apt ---------------------------------------------------------------------------------

# Root runs apt-get itself; anyone else through sudo, asked for only when something is missing.
SUDO=()
need_root() {
  [ "$(id -u)" = 0 ] && return
  [ -x "$(command -v sudo)" ] || die "$1 needs root: run this script as root, or install sudo"
  SUDO=(sudo)
}

apt_updated=0
apt_update() {
  say "apt-get update"
  "${SUDO[@]}" apt-get update -qq || die "apt-get update failed${SUDO[*]:+ (through sudo)}"
  apt_updated=1
}

# True when apt knows an installable version of every package named.
apt_knows() {
  local pkg
  for pkg in "$@"; do
    # Not grep -q: it would stop reading, and apt-cache's SIGPIPE would fail the pipe (pipefail).
    apt-cache policy "$pkg" 2>/dev/null | grep 'Candidate: [^(]' >/dev/null || return 1
  done
}

# Installs the packages, running apt-get update first only when the package lists do not
# know them, or when the install fails on lists that have gone stale.
apt_install() {
  need_root "apt-get install $*"
  if [ "$apt_updated" = 0 ] && ! apt_knows "$@"; then apt_update; fi
  say "apt-get install $*"
  local install=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@")
  if ! "${install[@]}"; then
    [ "$apt_updated" = 0 ] || die "apt-get install $* failed${SUDO[*]:+ (through sudo)}"
    apt_update
    "${install[@]}" || die "apt-get install $* failed${SUDO[*]:+ (through sudo)}"
  fi
}

# --- Redis -------------------------------------------------------------------------------

redis_answers() {
  timeout 2 bash -c "exec 3<>/dev/tcp/${REDIS_HOST}/${REDIS_PORT} && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG" 2>/dev/null
}

if redis_answers; then
  say "redis: found, answering on ${REDIS_HOST}:${REDIS_PORT}"
else
  if command -v redis-server >/dev/null; then
    say "redis: nothing answers on ${REDIS_HOST}:${REDIS_PORT}; redis-server is installed"
  else
    say "redis: nothing answers on ${REDIS_HOST}:${REDIS_PORT} and redis-server is not installed"
    apt_install redis-server
  fi
  # The package may have started its own service; use it if so.
  if redis_answers; then
    say "redis: the installed service answers on ${REDIS_HOST}:${REDIS_PORT}"
  else
    redis_dir="$(mktemp -d "${TMPDIR:-/tmp}/test-redis.XXXXXX")"
    # No persistence: no RDB snapshots, no append-only file; the tests clean up their keys.
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
      --save '' --appendonly no --dir "$redis_dir" --logfile "$redis_dir/redis.log" \
      --pidfile "$redis_dir/redis.pid"
    for _ in $(seq 1 50); do
      redis_answers && break
      sleep 0.2
    done
    redis_answers || die "redis-server did not answer on ${REDIS_HOST}:${REDIS_PORT} (log: $redis_dir/redis.log)"
    say "redis: started redis-server on ${REDIS_HOST}:${REDIS_PORT} without persistence (pid $(cat "$redis_dir/redis.pid" 2>/dev/null || echo '?'), log $redis_dir/redis.log); stop it with: redis-cli -p ${REDIS_PORT} shutdown nosave"
  fi
fi

# test/faults starts redis-server processes of its own (a Cluster, Sentinel, a server it
# SIGKILLs) and joins the Cluster with redis-cli, whatever answers on the port above.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  say "redis: redis-server or redis-cli missing (test/faults starts its own servers)"
  apt_install redis-server redis-tools
fi

# --- Prometheus and Alertmanager ---------------------------------------------------------

# The executable `$1` on PATH (bash's `command -v` alone also names a non-executable file).
on_path() {
  local p
  p="$(command -v "$1")" && [ -x "$p" ] && printf '%s' "$p"
}

# package:binary pairs; a package is installed when any of its binaries is missing.
missing=()
missing_bins=()
for pair in prometheus:prometheus prometheus:promtool \
  prometheus-alertmanager:prometheus-alertmanager prometheus-alertmanager:amtool; do
  pkg="${pair%%:*}"
  bin="${pair#*:}"
  if path="$(on_path "$bin")"; then
    say "$bin: found at $path"
  else
    say "$bin: not on PATH (package $pkg)"
    missing_bins+=("$bin")
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
  for bin in "${missing_bins[@]}"; do
    path="$(on_path "$bin")" || die "$bin is still not on PATH after installing ${missing[*]}"
    say "$bin: installed at $path"
  done
fi
# The tests start their own Prometheus and Alertmanager on free ports; a service the
# package may have started (ports 9090, 9093) is not used.

# --- Fonts --------------------------------------------------------------------------------

# The chart loads this file explicitly (src/publish/chart.ts, chartFonts).
if [ -r /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  say "fonts: DejaVu Sans found"
else
  say "fonts: DejaVu Sans missing (package fonts-dejavu-core)"
  apt_install fonts-dejavu-core
  [ -r /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || die "DejaVuSans.ttf is still missing after installing fonts-dejavu-core"
fi

# --- PostgreSQL --------------------------------------------------------------------------
# PLACE FOR POSTGRESQL: no test needs it yet. When one does, install postgresql here and
# start a server on 127.0.0.1 the same way as Redis above (only when none answers).

say "ready: run npm test"
