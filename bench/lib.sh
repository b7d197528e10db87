# shellcheck shell=bash
# shellcheck disable=SC2154  # work and pg_port are set by the script that sources this
# bench/lib.sh: what the HTTP benches (bench/http, bench/orders) share; sourced, not run.
#
# Before sourcing, the script sets `work` (a directory for logs) and `pg_port`, and sources
# scripts/lib/services.sh. Processes started with start_bg are recorded in `started` and stopped
# by PID (SIGTERM, then SIGKILL after a grace) by bench_cleanup_on_exit, also on Ctrl-C or failure;
# the services library's exit handler then stops the PostgreSQL and Redis this shell started.

started=() # "<pid>:<command name>", stopped in reverse order
last_pid=""

die() {
  om_log "error: $*"
  exit 1
}

# require_tools <tool>...: each is on PATH (they come from Debian packages of the same name).
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian package $tool)"
  done
}

# bench_build <build dir> <target>...: configures and builds the targets in the build directory,
# unless it is the build of another checkout (OM_BUILD_DIR pointing at an older tree): that one is
# used as it is.
bench_build() {
  local build="$1" home=""
  shift
  if [[ -f "$build/CMakeCache.txt" ]]; then
    home="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")"
  fi
  if [[ -n "$home" && "$(cd "$home" && pwd -P)" != "$(pwd -P)" ]]; then
    om_log "using $build as it is (a build of $home)"
    return 0
  fi
  scripts/deps
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target "$@" >/dev/null
}

# is_ours <pid> <comm>: the process still exists and still runs <comm> (a PID that bash has
# reaped may have been given to another process since).
is_ours() {
  local comm=""
  [[ -r "/proc/$1/comm" ]] && read -r comm <"/proc/$1/comm" 2>/dev/null
  [[ "$comm" == "$2" ]]
}

# start_bg <name> <command> [args...]: runs it in the background, output in $work/<name>.log;
# its PID in last_pid.
start_bg() {
  local name="$1"
  shift
  "$@" >"$work/$name.log" 2>&1 &
  last_pid=$!
  started+=("$last_pid:$(basename "$1")")
}

# stop_pid <pid> <comm> <grace s>: SIGTERM, then SIGKILL after the grace; reaps it.
stop_pid() {
  local pid="$1" comm="$2" grace="$3" i
  if is_ours "$pid" "$comm"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      is_ours "$pid" "$comm" || break
      sleep 0.1
    done
    if is_ours "$pid" "$comm"; then
      om_log "$comm (pid $pid) still running ${grace}s after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

# forget_pid <pid>: it was stopped or has ended; no longer stopped on exit.
forget_pid() {
  local keep=() entry
  for entry in "${started[@]}"; do
    [[ "${entry%%:*}" == "$1" ]] || keep+=("$entry")
  done
  started=("${keep[@]}")
}

stop_started() {
  local i entry
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    entry="${started[i]}"
    stop_pid "${entry%%:*}" "${entry#*:}" 15
  done
  started=()
}

show_logs() {
  local f
  for f in "$work"/*.log "$work"/*.out; do
    [[ -s "$f" ]] || continue
    om_log "last lines of $f:"
    tail -n 20 "$f" | sed 's/^/    /' >&2
  done
}

# Runs before the services library's exit handler, which then stops PostgreSQL and Redis.
bench__on_exit() {
  local rc=$?
  set +e # a failing step here must not end the cleanup; (exit "$rc") below would, under -e
  trap '' INT TERM HUP PIPE
  stop_started
  if ((rc != 0)); then
    show_logs
    om_log "logs kept in $work"
  else
    rm -rf "$work"
  fi
  (exit "$rc")
  om__on_exit
}

# bench_cleanup_on_exit: installs the traps (call once, after `work` is set).
bench_cleanup_on_exit() {
  om_stop_all_on_exit
  trap bench__on_exit EXIT
}

# wait_http <url> <seconds> <pid> <comm>: polls until GET url answers 2xx; fails early if the
# process that should serve it has exited.
wait_http() {
  local url="$1" limit="$2" pid="$3" comm="$4" deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null -m 2 "$url" 2>/dev/null; do
    is_ours "$pid" "$comm" || die "$comm (pid $pid) exited before $url answered"
    ((SECONDS < deadline)) || die "$url did not answer 200 within ${limit}s"
    sleep 0.2
  done
}

port_free() {
  # shellcheck disable=SC2016  # $1 is expanded by the inner bash
  ! timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# bench_sql <database> <statement>: its result, unaligned, without headers.
bench_sql() {
  PGPASSWORD="$(<"$ORDERMESH_PG_PASSWORD_FILE")" PGCONNECT_TIMEOUT=5 \
    timeout 60 "$OM_PG_BIN/psql" -X -q -w -v ON_ERROR_STOP=1 -tA \
    -h 127.0.0.1 -p "$pg_port" -U "$ORDERMESH_PG_USER" -d "$1" -c "$2"
}

# fresh_database <db>: drops and creates it, so that the journal and the projector start empty.
fresh_database() {
  bench_sql postgres "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  bench_sql postgres "CREATE DATABASE $1" >/dev/null
}

# cpu_ticks <pid>...: CPU time (clock ticks, user + system) of these processes and all their
# descendants alive now, plus what their reaped children used (cutime + cstime).
cpu_ticks() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v roots="$*" '
    { pid = $1; rest = substr($0, match($0, /\) [A-Za-z] /) + 2); split(rest, f, " ")
      ppid[pid] = f[2]; t[pid] = f[12] + f[13] + f[14] + f[15] }
    END { n = split(roots, r, " "); for (i = 1; i <= n; i++) mine[r[i]] = 1
          do { changed = 0
               for (p in ppid) if (!(p in mine) && (ppid[p] in mine)) { mine[p] = 1; changed = 1 }
          } while (changed)
          for (p in mine) if (p in t) own += t[p]
          printf "%d\n", own }'
}

# busy_ticks: the whole machine's non-idle CPU time (clock ticks, all cores) from /proc/stat.
# thread_ticks <pid>: "<thread name>=<clock ticks>" per thread name of that process (user +
# system, summed over its threads of that name), one per line.
thread_ticks() {
  cat "/proc/$1/task/"[0-9]*/stat 2>/dev/null | awk '
    { name = substr($0, index($0, "(") + 1); name = substr(name, 1, index(name, ") ") - 1)
      rest = substr($0, match($0, /\) [A-Za-z] /) + 2); split(rest, f, " ")
      gsub(/ /, "_", name); t[name] += f[12] + f[13] }
    END { for (n in t) print n "=" t[n] }'
}

busy_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
