# test/lib.sh: shared by test/run-tests.sh, test/demo/run-demo.sh and bench/run-bench.sh.
# Installs what is missing (Debian packages), builds and installs the extension, and runs
# commands as an unprivileged user, since initdb refuses to run as root.

PG_MAJOR=${PG_MAJOR:-15}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}
export PG_CONFIG=${PG_CONFIG:-$PG_BINDIR/pg_config}
EASEINV_PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-cron
  pgbouncer libipc-run-perl make gcc libc6-dev"

log() { printf '\n== %s\n' "$*"; }

# ensure_packages: apt-get install whatever of EASEINV_PACKAGES is not installed yet.
ensure_packages() {
  local missing=() p
  for p in $EASEINV_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    return 1
  fi
  log "installing ${missing[*]}"
  # Installing postgresql-15 on a fresh machine would create and start a cluster on port 5432
  # that nobody asked for; the suites start their own.  Only when PostgreSQL is not installed
  # yet, so an existing setup is left exactly as it is.
  if ! dpkg-query -W -f='${Status}' postgresql-common 2>/dev/null | grep -q "install ok installed"; then
    # postgresql-common's postinst reads this file (not createcluster.d); --force-confold keeps it.
    mkdir -p /etc/postgresql-common
    [ -e /etc/postgresql-common/createcluster.conf ] ||
      echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
  fi
  # A package's postinst must not start a cluster or service we did not ask for.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef "${missing[@]}" >/dev/null
  # pgbouncer's package enables a system service on port 6432; the tests start their own.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop pgbouncer >/dev/null 2>&1 || true; fi
}

# build_and_install: compile with warnings as errors and install into $PG_CONFIG's PostgreSQL.
build_and_install() {
  log "building easeinv (-Wall -Wextra -Werror) against $($PG_CONFIG --version)"
  make -s PG_CONFIG="$PG_CONFIG" all
  if [ "$(id -u)" -eq 0 ] || [ -w "$($PG_CONFIG --pkglibdir)" ]; then
    make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
  else
    sudo make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
  fi
}

# RUN_USER: who runs initdb and the servers; root hands over to the postgres user.
if [ "$(id -u)" -eq 0 ]; then RUN_USER=postgres; else RUN_USER=$(id -un); fi

# as_runner CMD...: run a command as RUN_USER with the PostgreSQL binaries first in PATH.
as_runner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$RUN_USER" -- env PATH="$PG_BINDIR:$PATH" PG_CONFIG="$PG_CONFIG" HOME=/tmp "$@"
  else
    env PATH="$PG_BINDIR:$PATH" "$@"
  fi
}

# private_copy DIR: a copy of the source tree that RUN_USER may write into (test results).
private_copy() {
  local dest=$1
  mkdir -p "$dest"
  tar --exclude=./.git --exclude=./tmp_check --exclude=./tmp_check_iso --exclude=./results \
      --exclude=./bench/out -cf - . | tar -C "$dest" -xf -
  [ "$(id -u)" -eq 0 ] && chown -R "$RUN_USER" "$dest"
  return 0
}

# Throwaway instance helpers for the demo and the benchmarks.
# pg_tmp_start DIR PORT [extra postgresql.conf lines]: initdb and start, sockets in DIR.
pg_tmp_start() {
  local dir=$1 port=$2 extra=${3:-}
  as_runner initdb -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "fsync = off"
    printf '%s\n' "$extra"
  } >> "$dir/data/postgresql.conf"
  as_runner pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
}

pg_tmp_stop() {
  local dir=$1
  as_runner pg_ctl -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# free_port: a TCP port on 127.0.0.1 nobody listens on.
free_port() {
  local p
  for p in $(seq "${1:-55432}" 65000); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
