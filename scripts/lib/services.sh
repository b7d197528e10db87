# shellcheck shell=bash
# scripts/lib/services.sh -- private PostgreSQL 15 and Redis 7 instances for ordermesh.
#
# Source it (bash only):   source "<repo>/scripts/lib/services.sh"
#
# Every instance (demo, test, bench, ...) lives under <repo>/var/<instance>/:
#   pg/             PostgreSQL home: data/ (initdb'd cluster) and postgres.log
#                   (when running as root and the repo is not traversable by the
#                   `postgres` user, pg is a symlink to /tmp/ordermesh-pg-<hash>-<instance>)
#   pg-password     password of the `ordermesh` database role (mode 600)
#   redis/          redis.conf, redis.pid, redis.log and Redis' working dir
#   .lock           serialises start/stop between concurrent scripts
# Servers listen on 127.0.0.1 only; processes are only ever stopped by the PID in
# their own pidfile (postmaster.pid / redis.pid), never by name.
#
# Public functions:
#   om_pg_start <instance> <port> <dbname>     start (initdb on first use), wait, create db
#   om_pg_stop <instance> [fast|smart|immediate]
#   om_pg_restart <instance> <port> <dbname> [fast|immediate]
#                                              stop (-m fast, or -m immediate: a crash, no
#                                              checkpoint, WAL recovery on start), then start and wait
#   om_pg_status <instance>                    prints one line; 0 if running
#   om_redis_start <instance> <port>
#   om_redis_stop <instance>
#   om_redis_status <instance>                 prints one line; 0 if running
#   om_stop_all_on_exit                        EXIT/INT/TERM/HUP/PIPE traps stopping what THIS shell started
#   om_stop_started                            stop what this shell started now
#   om_disown_started                          forget what this shell started (leave it running)
#   om_export_env <instance> <pg_port> <dbname> <redis_port>
#   om_run_child <cmd> [args...]               run cmd in its own process group; signals forwarded
#   om_start_bg <logfile> <cmd> [args...]      start cmd in the background (own session, output to
#                                              logfile); OM_BG_PID = its PID; stopped on exit
#   om_stop_bg                                 SIGTERM (then SIGKILL after 15 s) what om_start_bg started
#   om_log <message...>                        "<script>: message" on stderr
# Tunables (environment): OM_START_TIMEOUT (s, default 60), OM_STOP_TIMEOUT (s, default 60),
#   OM_LOCK_TIMEOUT (s, default 300), OM_PG_BIN (default /usr/lib/postgresql/15/bin),
#   OM_PG_STAT_STATEMENTS (1: a PostgreSQL started now preloads pg_stat_statements).
# Script-internal names use the OM_/om_ prefix; the only ORDERMESH_* variables ever
# exported are the six set by om_export_env.

if [[ -n "${OM__SERVICES_LOADED:-}" ]]; then
  return 0
fi
OM__SERVICES_LOADED=1

OM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
OM_SCRIPT="${OM_SCRIPT:-$(basename "$0")}"
OM_PG_BIN="${OM_PG_BIN:-/usr/lib/postgresql/15/bin}"
OM_START_TIMEOUT="${OM_START_TIMEOUT:-60}"
OM_STOP_TIMEOUT="${OM_STOP_TIMEOUT:-60}"
OM_LOCK_TIMEOUT="${OM_LOCK_TIMEOUT:-300}"
OM_DB_ROLE=ordermesh

OM__STARTED=()        # "pg:<instance>" / "redis:<instance>" started by this shell
OM__TMPFILES=()       # removed on exit
OM__CHILD_PID=""      # process group leader started by om_run_child
OM__BG_PIDS=()        # background processes started by om_start_bg, stopped in reverse order
OM__CAUGHT_SIGNAL=""
OM__LOCK_FD=""
OM__LOCK_INST=""
OM__LOCK_DEPTH=0

# ---------------------------------------------------------------- helpers

om_log() {
  printf '%s: %s\n' "$OM_SCRIPT" "$*" >&2 || true   # never fail (e.g. stderr is a closed pipe)
}

om__err() {
  om_log "error: $*"
  return 1
}

om__is_root() {
  (( EUID == 0 ))
}

om__check_instance() {
  [[ "${1:-}" =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || om__err "invalid instance name '${1:-}' (letters, digits, _ and -)"
}

om__check_port() {
  if [[ "${1:-}" =~ ^[0-9]+$ ]] && (( $1 >= 1024 && $1 <= 65535 )); then
    return 0
  fi
  om__err "invalid port '${1:-}' (1024-65535)"
}

om__check_db() {
  [[ "${1:-}" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || om__err "invalid database name '${1:-}' (letters, digits, _)"
}

# Polling code avoids $(...) in this shell: bash 5.2 can wedge or misparse when a
# trapped signal arrives while it expands a command substitution. Helpers used
# in loops therefore return values in globals (OM__LINE, OM__PID) instead.

# om__read_line <file> [n]: OM__LINE = line n (default 1) of file; fails if absent.
om__read_line() {
  local lines=()
  OM__LINE=""
  { mapfile -t -n "${2:-1}" lines <"$1"; } 2>/dev/null || return 1
  (( ${#lines[@]} >= ${2:-1} )) || return 1
  OM__LINE="${lines[${2:-1} - 1]}"
}

# om__pid_is <pid> <comm>: the process exists and its command name is <comm>.
om__pid_is() {
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  om__read_line "/proc/$1/comm" || return 1
  [[ "$OM__LINE" == "$2" ]]
}

# om__port_in_use <port>: something accepts TCP connections on 127.0.0.1:<port>.
om__port_in_use() {
  # shellcheck disable=SC2016  # $1 is expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

om__tail_log() {
  local file="$1" what="$2"
  if [[ -s "$file" ]]; then
    om_log "last lines of $what log $file:"
    tail -n 30 "$file" | sed 's/^/    /' >&2
  else
    om_log "($what log $file is empty or missing)"
  fi
}

om__mkdir_instance() {
  local inst="$1"
  if [[ ! -d "$OM_ROOT/var" ]]; then
    mkdir -p "$OM_ROOT/var" && chmod 755 "$OM_ROOT/var" || return 1
  fi
  if [[ ! -d "$OM_ROOT/var/$inst" ]]; then
    mkdir -p "$OM_ROOT/var/$inst" && chmod 755 "$OM_ROOT/var/$inst" || return 1
  fi
}

# Per-instance lock, re-entrant within this shell. Servers never inherit the lock
# fd (it would stay locked for their lifetime): they are started via om__spawn.
om__lock() {
  local inst="$1" fd
  if (( OM__LOCK_DEPTH > 0 )); then
    [[ "$OM__LOCK_INST" == "$inst" ]] || om__err "internal: lock for '$OM__LOCK_INST' held while locking '$inst'" || return 1
    OM__LOCK_DEPTH=$((OM__LOCK_DEPTH + 1))
    return 0
  fi
  om__mkdir_instance "$inst" || return 1
  exec {fd}>>"$OM_ROOT/var/$inst/.lock" || return 1
  if ! flock -w "$OM_LOCK_TIMEOUT" "$fd"; then
    exec {fd}>&-
    om__err "could not lock instance '$inst' within ${OM_LOCK_TIMEOUT}s (another scripts/services is busy?)"
    return 1
  fi
  OM__LOCK_FD="$fd"
  OM__LOCK_INST="$inst"
  OM__LOCK_DEPTH=1
}

om__unlock() {
  (( OM__LOCK_DEPTH > 0 )) || return 0
  OM__LOCK_DEPTH=$((OM__LOCK_DEPTH - 1))
  if (( OM__LOCK_DEPTH == 0 )); then
    exec {OM__LOCK_FD}>&-
    OM__LOCK_FD=""
    OM__LOCK_INST=""
  fi
}

# om__spawn <cmd...>: run cmd with every fd above 2 closed, so that a daemon it
# leaves behind holds neither our lock nor the caller's pipes (a CI step waiting
# for EOF on its output would otherwise hang). No redirections on the call: they
# would apply to this shell while it waits.
om__spawn() {
  (
    fds=(/proc/"$BASHPID"/fd/*)
    for fd in "${fds[@]##*/}"; do
      if (( fd > 2 )); then { exec {fd}>&-; } 2>/dev/null; fi
    done
    exec "$@"
  )
}

om__register() {
  local item="$1:$2" x
  for x in "${OM__STARTED[@]}"; do
    [[ "$x" == "$item" ]] && return 0
  done
  OM__STARTED+=("$item")
}

om__unregister() {
  local item="$1:$2" x keep=()
  for x in "${OM__STARTED[@]}"; do
    [[ "$x" == "$item" ]] || keep+=("$x")
  done
  OM__STARTED=("${keep[@]}")
}

om__is_registered() {
  local item="$1:$2" x
  for x in "${OM__STARTED[@]}"; do
    [[ "$x" == "$item" ]] && return 0
  done
  return 1
}

# ---------------------------------------------------------------- PostgreSQL

om__require_pg() {
  local b
  for b in initdb pg_ctl postgres pg_isready psql; do
    [[ -x "$OM_PG_BIN/$b" ]] || om__err "$OM_PG_BIN/$b not found; run scripts/deps (PostgreSQL 15)" || return 1
  done
  if om__is_root; then
    id -u postgres >/dev/null 2>&1 || om__err "running as root but there is no 'postgres' system user; run scripts/deps" || return 1
  fi
}

# "${OM__AS_PG[@]}" <cmd...> runs cmd as the user owning the clusters: postgres
# (from /, which it can always enter) when we are root, else ourselves. Used as a
# plain external command so that redirections never apply to this shell (a trap
# running meanwhile would otherwise write into them).
if om__is_root; then
  OM__AS_PG=(env -C / runuser -u postgres --)
else
  OM__AS_PG=()
fi

# Sets OM__INST_DIR OM__PGHOME (as seen from the repo) OM__PGREAL (physical path,
# used for everything the postgres user touches) OM__PGDATA OM__PGLOG OM__PWFILE.
om__pg_paths() {
  OM__INST_DIR="$OM_ROOT/var/$1"
  OM__PGHOME="$OM__INST_DIR/pg"
  OM__PWFILE="$OM__INST_DIR/pg-password"
  if [[ -L "$OM__PGHOME" ]]; then
    OM__PGREAL="$(readlink -m "$OM__PGHOME")"
  else
    OM__PGREAL="$OM__PGHOME"
  fi
  OM__PGDATA="$OM__PGREAL/data"
  OM__PGLOG="$OM__PGREAL/postgres.log"
}

om__pg_fallback_dir() {
  local hash
  hash="$(printf '%s' "$OM_ROOT" | sha256sum | cut -c1-12)"
  printf '/tmp/ordermesh-pg-%s-%s\n' "$hash" "$1"
}

# Create (or check) a private directory owned by postgres outside the repo.
om__pg_make_private_dir() {
  local dir="$1" owner
  [[ -L "$dir" ]] && { om__err "$dir is a symlink; refusing to use it"; return 1; }
  if [[ ! -e "$dir" ]]; then
    mkdir -m 700 "$dir" || return 1
    chown postgres:postgres "$dir" || return 1
  fi
  [[ -d "$dir" ]] || { om__err "$dir exists and is not a directory"; return 1; }
  owner="$(stat -c %U "$dir")"
  [[ "$owner" == postgres ]] || { om__err "$dir is owned by '$owner', expected 'postgres'; remove it"; return 1; }
  chmod 700 "$dir"
}

# Make var/<inst>/pg exist and be usable by the cluster owner.
om__pg_prepare_home() {
  local inst="$1" fallback owner want
  om__mkdir_instance "$inst" || return 1
  om__pg_paths "$inst"
  if [[ -L "$OM__PGHOME" ]]; then
    if [[ ! -d "$OM__PGREAL" ]]; then
      fallback="$(om__pg_fallback_dir "$inst")"
      [[ "$OM__PGREAL" == "$fallback" ]] || { om__err "$OM__PGHOME points to missing $OM__PGREAL"; return 1; }
      om__pg_make_private_dir "$fallback" || return 1
    fi
    om_log "PostgreSQL data of '$inst' is in $OM__PGREAL (var/$inst/pg is a symlink to it)"
  elif [[ -d "$OM__PGHOME" ]]; then
    :
  elif [[ -e "$OM__PGHOME" ]]; then
    om__err "$OM__PGHOME exists and is not a directory"
    return 1
  elif om__is_root && ! "${OM__AS_PG[@]}" test -x "$OM__INST_DIR"; then
    fallback="$(om__pg_fallback_dir "$inst")"
    om__pg_make_private_dir "$fallback" || return 1
    ln -s "$fallback" "$OM__PGHOME" || return 1
    om__pg_paths "$inst"
    om_log "$OM__INST_DIR is not reachable by user postgres; PostgreSQL data of '$inst' goes to $fallback (var/$inst/pg is a symlink to it)"
  else
    mkdir -m 700 "$OM__PGHOME" || return 1
    if om__is_root; then chown postgres:postgres "$OM__PGHOME" || return 1; fi
  fi
  if om__is_root; then want=postgres; else want="$(id -un)"; fi
  owner="$(stat -L -c %U "$OM__PGHOME")"
  if [[ "$owner" != "$want" ]]; then
    om__err "$OM__PGHOME is owned by '$owner' but the cluster must be run by '$want'; stop it and reset with: rm -rf var/$inst"
    return 1
  fi
  if om__is_root && ! "${OM__AS_PG[@]}" test -w "$OM__PGREAL"; then
    om__err "$OM__PGREAL is not writable by user postgres; reset with: rm -rf var/$inst"
    return 1
  fi
}

# initdb on first use (idempotent).
om__pg_init() {
  local inst="$1" pwtmp rc=0
  om__pg_paths "$inst"
  if [[ -f "$OM__PGDATA/PG_VERSION" ]]; then
    [[ -s "$OM__PWFILE" ]] || { om__err "cluster exists but $OM__PWFILE is missing; reset with: scripts/services $inst stop && rm -rf var/$inst"; return 1; }
    return 0
  fi
  if [[ -e "$OM__PGDATA" ]] && [[ -n "$(ls -A "$OM__PGDATA" 2>/dev/null)" ]]; then
    om__err "$OM__PGDATA is not empty but holds no cluster (interrupted initdb?); reset with: rm -rf var/$inst"
    return 1
  fi
  if [[ ! -s "$OM__PWFILE" ]]; then
    ( umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$OM__PWFILE" ) || return 1
    [[ -s "$OM__PWFILE" ]] || { om__err "could not generate $OM__PWFILE"; return 1; }
  fi
  chmod 600 "$OM__PWFILE" || return 1
  rm -f "$OM__PGREAL"/.pwfile.* 2>/dev/null || true
  pwtmp="$(mktemp "$OM__PGREAL/.pwfile.XXXXXX")" || return 1
  OM__TMPFILES+=("$pwtmp")
  if om__read_line "$OM__PWFILE"; then printf '%s\n' "$OM__LINE" >"$pwtmp" || rc=1; else rc=1; fi
  if om__is_root && (( rc == 0 )); then chown postgres:postgres "$pwtmp" || rc=1; fi
  om_log "initdb PostgreSQL cluster '$inst' in $OM__PGDATA"
  if (( rc == 0 )); then
    "${OM__AS_PG[@]}" "$OM_PG_BIN/initdb" -D "$OM__PGDATA" -U "$OM_DB_ROLE" \
      --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwtmp" \
      -E UTF8 --locale=C >"$OM__PGREAL/initdb.log" 2>&1 || rc=$?
  fi
  rm -f "$pwtmp"
  if (( rc != 0 )); then
    om__err "initdb failed (exit $rc)"
    om__tail_log "$OM__PGREAL/initdb.log" initdb
    return 1
  fi
  printf "\n# ordermesh: settings generated by scripts/lib/services.sh on every start\ninclude = 'ordermesh.conf'\n" \
    >>"$OM__PGDATA/postgresql.conf" || return 1
}

om__pg_write_conf() {
  local port="$1" conf="$OM__PGDATA/ordermesh.conf"
  cat >"$conf" <<EOF || return 1
# Generated by scripts/lib/services.sh on every start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
fsync = on
# WAL segments a checkpoint keeps for reuse (renamed) instead of removing them; below this, a
# writer that fills one creates and zero-fills the next itself (XLogFileInit: ~5% of the journal
# writers' CPU under bench/orders with the default 80MB).
min_wal_size = 512MB
password_encryption = 'scram-sha-256'
logging_collector = off
log_destination = 'stderr'
EOF
  # A benchmark's statement-by-statement split (bench/orders with OM_BENCH_PG_SPLIT=1).
  if [[ "${OM_PG_STAT_STATEMENTS:-0}" == 1 ]]; then
    printf "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = all\npg_stat_statements.track_planning = on\n" \
      >>"$conf" || return 1
  fi
  chmod 600 "$conf" || return 1
  if om__is_root; then chown postgres:postgres "$conf" || return 1; fi
}

# om__pg_pid <instance>: OM__PID = the running postmaster's PID (from postmaster.pid).
om__pg_pid() {
  local pid
  OM__PID=""
  om__pg_paths "$1"
  om__read_line "$OM__PGDATA/postmaster.pid" || return 1
  pid="$OM__LINE"
  om__pid_is "$pid" postgres || return 1
  OM__PID="$pid"
}

# om__pg_running_port <instance>: OM__LINE = port recorded in postmaster.pid.
om__pg_running_port() {
  om__pg_paths "$1"
  om__read_line "$OM__PGDATA/postmaster.pid" 4
}

# om__psql <instance> <port> <db> [psql args...]: psql over TCP with the instance password.
om__psql() {
  local inst="$1" port="$2" db="$3" pw
  shift 3
  om__pg_paths "$inst"
  om__read_line "$OM__PWFILE" || { om__err "cannot read $OM__PWFILE"; return 1; }
  pw="$OM__LINE"
  PGPASSWORD="$pw" PGCONNECT_TIMEOUT=5 PGAPPNAME="ordermesh-scripts" \
    timeout 30 "$OM_PG_BIN/psql" -X -q -w -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$port" -U "$OM_DB_ROLE" -d "$db" "$@"
}

om__pg_wait_ready() {
  local inst="$1" port="$2" deadline out
  deadline=$((SECONDS + OM_START_TIMEOUT))
  while :; do
    if "$OM_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 &&
       om__psql "$inst" "$port" postgres -tAc 'select 1' 2>/dev/null | grep -x 1 >/dev/null; then
      break
    fi
    om__pg_pid "$inst" || { om__err "PostgreSQL '$inst' is not running (it exited during startup)"; return 1; }
    (( SECONDS < deadline )) || { om__err "PostgreSQL '$inst' did not answer on 127.0.0.1:$port within ${OM_START_TIMEOUT}s"; return 1; }
    sleep 0.2
  done
  out="$(om__psql "$inst" "$port" postgres -tAc 'show data_directory')" || { om__err "could not query PostgreSQL '$inst'"; return 1; }
  if [[ "$(readlink -m "$out")" != "$(readlink -m "$OM__PGDATA")" ]]; then
    om__err "127.0.0.1:$port is answered by another PostgreSQL (data_directory=$out)"
    return 1
  fi
}

om__pg_ensure_db() {
  local inst="$1" port="$2" db="$3" out
  out="$(om__psql "$inst" "$port" postgres -tAc "select 1 from pg_database where datname = '$db'")" || return 1
  if [[ "$out" != 1 ]]; then
    om__psql "$inst" "$port" postgres -c "create database \"$db\"" || { om__err "could not create database '$db'"; return 1; }
    om_log "created database '$db' in PostgreSQL '$inst'"
  fi
}

om__pg_start_locked() {
  local inst="$1" port="$2" db="$3" pid started=0 running_port
  om__pg_prepare_home "$inst" || return 1
  om__pg_init "$inst" || return 1
  if om__pg_pid "$inst"; then
    pid="$OM__PID"
    om__pg_running_port "$inst"
    running_port="$OM__LINE"
    if [[ "$running_port" != "$port" ]]; then
      om__err "PostgreSQL '$inst' already runs on port $running_port, not $port; stop it first (scripts/services $inst pg-stop)"
      return 1
    fi
    om_log "PostgreSQL '$inst' already running (pid $pid, 127.0.0.1:$port)"
  else
    if [[ -e "$OM__PGDATA/postmaster.pid" ]]; then
      om_log "removing stale $OM__PGDATA/postmaster.pid"
      rm -f "$OM__PGDATA/postmaster.pid"
    fi
    if om__port_in_use "$port"; then
      om__err "127.0.0.1:$port is already in use by another process; pick another port (--pg-port / OM_PG_PORT)"
      return 1
    fi
    om__pg_write_conf "$port" || return 1
    om__register pg "$inst"
    started=1
    om_log "starting PostgreSQL '$inst' on 127.0.0.1:$port (log: $OM__PGLOG)"
    if ! om__spawn "${OM__AS_PG[@]}" "$OM_PG_BIN/pg_ctl" start -D "$OM__PGDATA" -l "$OM__PGLOG" \
         -w -t "$OM_START_TIMEOUT" -s; then
      om__err "PostgreSQL '$inst' failed to start"
      om__tail_log "$OM__PGLOG" PostgreSQL
      om__pg_stop_locked "$inst" immediate || true
      return 1
    fi
  fi
  if ! om__pg_wait_ready "$inst" "$port"; then
    om__tail_log "$OM__PGLOG" PostgreSQL
    if (( started )); then om__pg_stop_locked "$inst" immediate || true; fi
    return 1
  fi
  om__pg_ensure_db "$inst" "$port" "$db" || return 1
  if (( started )); then
    om__pg_pid "$inst"
    om_log "PostgreSQL '$inst' is up (pid $OM__PID, 127.0.0.1:$port, db $db)"
  fi
}

om__pg_stop_locked() {
  local inst="$1" mode="${2:-fast}" pid="" i
  om__pg_paths "$inst"
  if om__pg_pid "$inst"; then
    pid="$OM__PID"
  elif om__is_registered pg "$inst"; then
    # launched by this shell a moment ago (e.g. pg_ctl interrupted): give the
    # postmaster time to write postmaster.pid
    for ((i = 0; i < 30; i++)); do
      sleep 0.1
      if om__pg_pid "$inst"; then pid="$OM__PID"; break; fi
    done
  fi
  if ! om__pid_is "$pid" postgres; then
    om__unregister pg "$inst"
    return 0
  fi
  om_log "stopping PostgreSQL '$inst' (pid $pid, -m $mode)"
  if ! "${OM__AS_PG[@]}" "$OM_PG_BIN/pg_ctl" stop -D "$OM__PGDATA" -m "$mode" -w -t "$OM_STOP_TIMEOUT" -s; then
    if [[ "$mode" != immediate ]]; then
      om_log "warning: PostgreSQL '$inst' did not stop with -m $mode; using -m immediate"
      "${OM__AS_PG[@]}" "$OM_PG_BIN/pg_ctl" stop -D "$OM__PGDATA" -m immediate -w -t 30 -s || true
    fi
  fi
  for ((i = 0; i < 50; i++)); do
    om__pid_is "$pid" postgres || break
    sleep 0.1
  done
  if om__pid_is "$pid" postgres; then
    om__err "PostgreSQL '$inst' (pid $pid) is still running"
    om__tail_log "$OM__PGLOG" PostgreSQL
    return 1
  fi
  om__unregister pg "$inst"
}

om_pg_start() {
  local inst="${1:-}" port="${2:-}" db="${3:-}" rc=0
  om__check_instance "$inst" && om__check_port "$port" && om__check_db "$db" && om__require_pg || return 1
  om__lock "$inst" || return 1
  om__pg_start_locked "$inst" "$port" "$db" || rc=$?
  om__unlock
  return "$rc"
}

om_pg_stop() {
  local inst="${1:-}" mode="${2:-fast}" rc=0
  om__check_instance "$inst" && om__require_pg || return 1
  [[ "$mode" =~ ^(smart|fast|immediate)$ ]] || { om__err "invalid shutdown mode '$mode'"; return 1; }
  om__lock "$inst" || return 1
  om__pg_stop_locked "$inst" "$mode" || rc=$?
  om__unlock
  return "$rc"
}

om_pg_restart() {
  local inst="${1:-}" port="${2:-}" db="${3:-}" mode="${4:-fast}" rc=0
  om__check_instance "$inst" && om__check_port "$port" && om__check_db "$db" && om__require_pg || return 1
  [[ "$mode" =~ ^(fast|immediate)$ ]] || { om__err "invalid restart mode '$mode'"; return 1; }
  om__lock "$inst" || return 1
  om__pg_stop_locked "$inst" "$mode" && om__pg_start_locked "$inst" "$port" "$db" || rc=$?
  om__unlock
  return "$rc"
}

om_pg_status() {
  local inst="${1:-}" pid
  om__check_instance "$inst" || return 1
  om__pg_paths "$inst"
  if om__pg_pid "$inst"; then
    pid="$OM__PID"
    om__pg_running_port "$inst"
    printf 'postgres %s: running, pid %s, 127.0.0.1:%s, data %s\n' "$inst" "$pid" "$OM__LINE" "$OM__PGDATA"
  elif [[ -f "$OM__PGDATA/PG_VERSION" ]]; then
    printf 'postgres %s: stopped (data %s)\n' "$inst" "$OM__PGDATA"
    return 3
  else
    printf 'postgres %s: stopped (not initialised)\n' "$inst"
    return 3
  fi
}

# ---------------------------------------------------------------- Redis

om__redis_paths() {
  OM__RDIR="$OM_ROOT/var/$1/redis"
  OM__RCONF="$OM__RDIR/redis.conf"
  OM__RPID="$OM__RDIR/redis.pid"
  OM__RLOG="$OM__RDIR/redis.log"
}

# om__redis_pid <instance> [discover]: OM__PID = PID of the instance's running
# redis-server, from its pidfile or, with "discover" and when the pidfile is not
# written (yet) or was lost, from the server on the instance's port, accepted only
# if it runs from the instance's config file.
om__redis_pid() {
  local pid info cfg
  OM__PID=""
  om__redis_paths "$1"
  if om__read_line "$OM__RPID"; then
    pid="$OM__LINE"
    if om__pid_is "$pid" redis-server; then
      OM__PID="$pid"
      return 0
    fi
  fi
  [[ "${2:-}" == discover && -f "$OM__RCONF" ]] || return 1
  om__redis_conf_port "$1"
  [[ -n "$OM__LINE" ]] || return 1
  info="$(om__redis_cli "$OM__LINE" info server 2>/dev/null | tr -d '\r')" || return 1
  pid="$(sed -n 's/^process_id://p' <<<"$info")"
  cfg="$(sed -n 's/^config_file://p' <<<"$info")"
  [[ "$cfg" == "$OM__RCONF" ]] && om__pid_is "$pid" redis-server || return 1
  OM__PID="$pid"
}

# om__redis_conf_port <instance>: OM__LINE = port in the instance's redis.conf.
om__redis_conf_port() {
  local line
  OM__LINE=""
  om__redis_paths "$1"
  [[ -f "$OM__RCONF" ]] || return 1
  while read -r line; do
    if [[ "$line" =~ ^port\ ([0-9]+)$ ]]; then
      OM__LINE="${BASH_REMATCH[1]}"
      return 0
    fi
  done <"$OM__RCONF"
  return 1
}

om__redis_cli() {
  local port="$1"
  shift
  timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

om__redis_start_locked() {
  local inst="$1" port="$2" pid started=0 deadline
  om__redis_paths "$inst"
  if [[ ! -d "$OM__RDIR" ]]; then mkdir -m 700 "$OM__RDIR" || return 1; fi
  if om__redis_pid "$inst" discover; then
    pid="$OM__PID"
    om__redis_conf_port "$inst"
    if [[ "$OM__LINE" != "$port" ]]; then
      om__err "Redis '$inst' already runs on port $OM__LINE, not $port; stop it first (scripts/services $inst redis-stop)"
      return 1
    fi
    om_log "Redis '$inst' already running (pid $pid, 127.0.0.1:$port)"
  else
    rm -f "$OM__RPID"
    if om__port_in_use "$port"; then
      om__err "127.0.0.1:$port is already in use by another process; pick another port (--redis-port / OM_REDIS_PORT)"
      return 1
    fi
    cat >"$OM__RCONF" <<EOF || return 1
# Generated by scripts/lib/services.sh on every start; edits are overwritten.
port $port
bind 127.0.0.1
protected-mode yes
daemonize yes
supervised no
pidfile $OM__RPID
logfile $OM__RLOG
dir $OM__RDIR
appendonly no
save ""
EOF
    om__register redis "$inst"
    started=1
    om_log "starting Redis '$inst' on 127.0.0.1:$port (log: $OM__RLOG)"
    if ! om__spawn redis-server "$OM__RCONF"; then
      om__err "redis-server '$inst' failed to start"
      om__tail_log "$OM__RLOG" Redis
      return 1
    fi
  fi
  deadline=$((SECONDS + OM_START_TIMEOUT))
  while :; do
    if om__redis_pid "$inst" &&
       om__redis_cli "$port" ping 2>/dev/null | grep -x PONG >/dev/null; then
      pid="$OM__PID"
      om__redis_cli "$port" info server 2>/dev/null | tr -d '\r' | grep -x "process_id:$pid" >/dev/null && break
      om__err "127.0.0.1:$port is answered by another Redis, not by ours (pid $pid)"
    elif [[ -f "$OM__RPID" ]] && ! om__redis_pid "$inst"; then
      om__err "Redis '$inst' exited during startup"
    elif (( SECONDS >= deadline )); then
      om__err "Redis '$inst' did not answer PONG on 127.0.0.1:$port within ${OM_START_TIMEOUT}s"
    else
      sleep 0.1
      continue
    fi
    om__tail_log "$OM__RLOG" Redis
    if (( started )); then om__redis_stop_locked "$inst" || true; fi
    return 1
  done
  if (( started )); then om_log "Redis '$inst' is up (pid $pid, 127.0.0.1:$port)"; fi
}

om__redis_stop_locked() {
  local inst="$1" pid="" i
  om__redis_paths "$inst"
  if om__redis_pid "$inst" discover; then
    pid="$OM__PID"
  elif om__is_registered redis "$inst"; then
    # launched by this shell a moment ago (e.g. interrupted during start): give it
    # time to write its pidfile / answer on its port
    for ((i = 0; i < 30; i++)); do
      sleep 0.1
      if om__redis_pid "$inst" discover; then pid="$OM__PID"; break; fi
    done
  fi
  if ! om__pid_is "$pid" redis-server; then
    rm -f "$OM__RPID"
    om__unregister redis "$inst"
    return 0
  fi
  om_log "stopping Redis '$inst' (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < OM_STOP_TIMEOUT * 10; i++)); do
    om__pid_is "$pid" redis-server || break
    sleep 0.1
  done
  if om__pid_is "$pid" redis-server; then
    om_log "warning: Redis '$inst' (pid $pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      om__pid_is "$pid" redis-server || break
      sleep 0.1
    done
  fi
  if om__pid_is "$pid" redis-server; then
    om__err "Redis '$inst' (pid $pid) is still running"
    return 1
  fi
  rm -f "$OM__RPID"
  om__unregister redis "$inst"
}

om_redis_start() {
  local inst="${1:-}" port="${2:-}" rc=0
  om__check_instance "$inst" && om__check_port "$port" || return 1
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    om__err "redis-server/redis-cli not found; run scripts/deps"
    return 1
  fi
  om__lock "$inst" || return 1
  om__redis_start_locked "$inst" "$port" || rc=$?
  om__unlock
  return "$rc"
}

om_redis_stop() {
  local inst="${1:-}" rc=0
  om__check_instance "$inst" || return 1
  om__lock "$inst" || return 1
  om__redis_stop_locked "$inst" || rc=$?
  om__unlock
  return "$rc"
}

om_redis_status() {
  local inst="${1:-}" pid
  om__check_instance "$inst" || return 1
  om__redis_paths "$inst"
  if om__redis_pid "$inst" discover; then
    pid="$OM__PID"
    om__redis_conf_port "$inst"
    printf 'redis    %s: running, pid %s, 127.0.0.1:%s, dir %s\n' "$inst" "$pid" "$OM__LINE" "$OM__RDIR"
  else
    printf 'redis    %s: stopped\n' "$inst"
    return 3
  fi
}

# ---------------------------------------------------------------- environment

om_export_env() {
  local inst="${1:-}" pg_port="${2:-}" db="${3:-}" redis_port="${4:-}"
  om__check_instance "$inst" && om__check_port "$pg_port" && om__check_db "$db" && om__check_port "$redis_port" || return 1
  om__pg_paths "$inst"
  export ORDERMESH_PG_HOST=127.0.0.1
  export ORDERMESH_PG_PORT="$pg_port"
  export ORDERMESH_PG_DBNAME="$db"
  export ORDERMESH_PG_USER="$OM_DB_ROLE"
  export ORDERMESH_PG_PASSWORD_FILE="$OM__PWFILE"
  export ORDERMESH_REDIS_PORT="$redis_port"
}

# ---------------------------------------------------------------- lifecycle

# om_run_child <cmd> [args...]: run cmd in its own session/process group (stdin
# kept, SIGINT/SIGQUIT at their defaults) and wait for it; returns its exit code.
# A signal to this shell is forwarded to the whole group by the exit trap, so no
# grandchild outlives the script. Needs om_stop_all_on_exit.
om_run_child() {
  local rc=0
  setsid env --default-signal=INT,QUIT "$@" <&0 &
  OM__CHILD_PID=$!
  wait "$OM__CHILD_PID" || rc=$?
  OM__CHILD_PID=""
  return "$rc"
}

om_start_bg() {
  local log="$1"
  shift
  setsid "$@" </dev/null >"$log" 2>&1 &
  OM_BG_PID=$!
  OM__BG_PIDS+=("$OM_BG_PID")
}

om_stop_bg() {
  local i j pid
  for ((i = ${#OM__BG_PIDS[@]} - 1; i >= 0; i--)); do
    pid="${OM__BG_PIDS[i]}"
    kill -s TERM "$pid" 2>/dev/null || continue
    for ((j = 0; j < 150; j++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      om_log "process $pid did not stop within 15 s of SIGTERM; sending SIGKILL"
      kill -s KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  OM__BG_PIDS=()
}

om__group_alive() {
  ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

om__stop_child() {
  local sig="${1:-TERM}" pid="$OM__CHILD_PID" i
  [[ -n "$pid" ]] || return 0
  OM__CHILD_PID=""
  kill -s "$sig" -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    om__group_alive "$pid" || break
    sleep 0.1
  done
  if om__group_alive "$pid"; then
    om_log "child process group $pid still running; sending SIGTERM"
    kill -s TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      om__group_alive "$pid" || break
      sleep 0.1
    done
  fi
  if om__group_alive "$pid"; then
    om_log "child process group $pid still running; sending SIGKILL"
    kill -s KILL -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Stop (reverse order) everything this shell started. Returns non-zero if
# something could not be stopped.
om_stop_started() {
  local i item rc=0
  for ((i = ${#OM__STARTED[@]} - 1; i >= 0; i--)); do
    item="${OM__STARTED[i]}"
    case "$item" in
      pg:*) om_pg_stop "${item#pg:}" || rc=1 ;;
      redis:*) om_redis_stop "${item#redis:}" || rc=1 ;;
    esac
  done
  OM__STARTED=()
  return "$rc"
}

om_disown_started() {
  OM__STARTED=()
}

om__on_signal() {
  trap '' INT TERM HUP PIPE   # no nested handlers (a log write may raise SIGPIPE again)
  OM__CAUGHT_SIGNAL="$1"
  om_log "caught SIG$1; stopping what this script started"
  exit "$2"
}

om__on_exit() {
  local rc=$? f
  trap - EXIT
  trap '' INT TERM HUP PIPE   # let the cleanup finish; children inherit the ignore
  if [[ "$OM__CAUGHT_SIGNAL" == INT ]]; then om__stop_child INT; else om__stop_child TERM; fi
  om_stop_bg
  for f in "${OM__TMPFILES[@]}"; do rm -f "$f"; done
  if (( ${#OM__STARTED[@]} > 0 )); then
    if ! om_stop_started; then
      om_log "error: could not stop everything this script started"
      (( rc != 0 )) || rc=1
    fi
  fi
  exit "$rc"
}

om_stop_all_on_exit() {
  trap 'om__on_exit' EXIT
  trap 'om__on_signal INT 130' INT
  trap 'om__on_signal TERM 143' TERM
  trap 'om__on_signal HUP 129' HUP
  trap 'om__on_signal PIPE 141' PIPE
}
