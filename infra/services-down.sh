#!/usr/bin/env bash
# Stops what services-up.sh started, found by its pid files; nothing else is touched.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF2
usage: npm run services:down [-- --clean]    (bash infra/services-down.sh [--clean] [--help])

Stops the Redis and Kafka processes that services:up started (by their pid files: SIGTERM, then
SIGKILL after \$SERVICES_STOP_TIMEOUT seconds, default 30). Data and logs stay in
\$LAMBDA_SERVICES_DIR (now $SERVICES_DIR).
  --clean   also delete the services' data and logs (the downloaded Kafka jars are kept)
EOF2
}

clean=
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --clean) clean=1 ;;
  '') ;;
  *) usage >&2; exit 2 ;;
esac
STOP_TIMEOUT="${SERVICES_STOP_TIMEOUT:-30}"

stop() {
  local name=$1 pid_file=$2 marker=$3 pid t0
  if ! pid=$(live_pid "$pid_file" "$marker"); then
    [[ -e $pid_file ]] && rm -f "$pid_file"
    say "$name not running"
    return
  fi
  t0=$(now)
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((STOP_TIMEOUT * 10))); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    say "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT} s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$pid_file"
  say "$name stopped (pid $pid, $(since "$t0"))"
}

hold_services_lock
stop Kafka "$KAFKA_PID_FILE" "$KAFKA_MARKER"
stop Redis "$REDIS_PID_FILE" "$REDIS_MARKER"

if [[ -n $clean ]]; then
  rm -rf "$KAFKA_DIR" "$REDIS_DIR" "$SERVICES_DIR/maven.log"
  say "removed data and logs under $SERVICES_DIR"
fi
