# Shared by services-up.sh and services-down.sh (sourced, not run): where things live, and how a
# service started by services-up is recognised again (its pid file, its command line, its port).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES_DIR="${LAMBDA_SERVICES_DIR:-$REPO_ROOT/.cache/services}"
REDIS_PORT="${REDIS_PORT:-16379}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_VERSION=3.9.1
HOST=127.0.0.1

REDIS_DIR="$SERVICES_DIR/redis"
REDIS_PID_FILE="$REDIS_DIR/redis.pid"
KAFKA_LIBS="$SERVICES_DIR/kafka-libs"
KAFKA_DIR="$SERVICES_DIR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_PID_FILE="$KAFKA_DIR/kafka.pid"
KAFKA_PROPERTIES="$KAFKA_DIR/server.properties"

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# A zombie (exited, not yet reaped) still has a /proc entry but is no longer running.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# The pid in a pid file, if that process is alive and still the service we started (pids get reused:
# after a reboot the file may name an unrelated process).
live_pid() {
  local pid_file=$1 marker=$2 pid
  [[ -s $pid_file ]] || return 1
  pid=$(<"$pid_file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" || return 1
  printf '%s' "$pid"
}

# What a service's command line contains (redis-server retitles itself to "redis-server host:port").
REDIS_MARKER=redis-server
KAFKA_MARKER="kafka.Kafka $KAFKA_PROPERTIES"

# services-up and services-down take turns: two concurrent starts would launch two brokers and
# leave the pid file naming the one that lost the port. The services themselves must not inherit
# fd 9, or they would hold the lock for as long as they run.
hold_services_lock() {
  mkdir -p "$SERVICES_DIR"
  exec 9>"$SERVICES_DIR/.lock"
  flock -w 600 9 || die "another services:up/down holds $SERVICES_DIR/.lock"
}
