#!/usr/bin/env bash
# Starts the real services the platform and its tests use, without Docker: Redis (Debian's
# redis-server) and a single-node Apache Kafka broker in KRaft mode run from Kafka's own jars.
# Installs what is missing, is harmless to run again, and waits until both services answer.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
usage: npm run services:up    (bash infra/services-up.sh [--help])

Installs if missing and starts, on $HOST only:
  Redis      port \$REDIS_PORT (now $REDIS_PORT), no persistence
  Kafka      $KAFKA_VERSION, KRaft broker+controller, port \$KAFKA_PORT (now $KAFKA_PORT),
             controller port \$KAFKA_CONTROLLER_PORT (now $KAFKA_CONTROLLER_PORT)
  topics     events (3 partitions), events.late (1), events.dlq (1), user-profiles (3, compacted)
  chromium   Debian's, for the dashboard's browser test (installed if missing, not started)

Data, logs and pid files live in \$LAMBDA_SERVICES_DIR (now $SERVICES_DIR).
\$KAFKA_HEAP sets the broker's JVM heap flags (default: -Xms256m -Xmx768m).
\$KAFKA_READY_TIMEOUT is how long to wait for Kafka, in seconds (default: 120).
Running it again while the services run only checks them. Stop them with: npm run services:down
EOF
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  '') ;;
  *) usage >&2; exit 2 ;;
esac

KAFKA_HEAP="${KAFKA_HEAP:--Xms256m -Xmx768m}"
KAFKA_READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-120}"
KAFKA_CP="$KAFKA_LIBS/*"
TOOL_CONFIG="$KAFKA_DIR/tool.properties"

# --- installing ------------------------------------------------------------------------------

APT_UPDATED=
apt_install() {
  command -v apt-get >/dev/null || die "$* missing and apt-get unavailable; install $* yourself"
  local sudo=
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "installing $* needs root (or sudo)"
    sudo=sudo
  fi
  local log="$SERVICES_DIR/apt.log"
  if [[ -z $APT_UPDATED ]]; then
    $sudo apt-get update -q >"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; die "apt-get install $* failed (full output: $log)"; }
}

ensure_commands() {
  local missing=()
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server redis-tools)
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  # The dashboard's browser test drives Debian's Chromium with playwright-core (no browser download).
  command -v chromium >/dev/null || missing+=(chromium)
  if ((${#missing[@]})); then
    say "installing ${missing[*]}..."
    apt_install "${missing[@]}"
  fi
}

# The jars are fetched once; the stamp (the pom's checksum) marks a complete copy.
ensure_kafka_libs() {
  local pom="$REPO_ROOT/infra/kafka/pom.xml" stamp="$KAFKA_LIBS/.pom.sha256" sum
  sum=$(sha256sum "$pom" | cut -d' ' -f1)
  [[ -f $stamp && $(<"$stamp") == "$sum" ]] && return
  say "fetching Kafka $KAFKA_VERSION jars with Maven..."
  local t0 tmp="$KAFKA_LIBS.tmp" log="$SERVICES_DIR/maven.log"
  t0=$(now)
  rm -rf "$tmp"
  if ! mvn -B -q -ntp -f "$pom" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "Maven could not fetch the Kafka jars (full output: $log)"
  fi
  printf '%s\n' "$sum" >"$tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  say "fetched $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars ($(since "$t0"))"
}

# --- Redis -----------------------------------------------------------------------------------

redis_ping() { [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

start_redis() {
  mkdir -p "$REDIS_DIR"
  if live_pid "$REDIS_PID_FILE" "$REDIS_MARKER" >/dev/null; then
    redis_ping || die "redis-server (pid $(<"$REDIS_PID_FILE")) does not answer on $HOST:$REDIS_PORT; see $REDIS_DIR/redis.log"
    say "Redis already running on $HOST:$REDIS_PORT"
    return
  fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by a process services:up did not start; set REDIS_PORT"
  rm -f "$REDIS_PID_FILE"
  local t0
  t0=$(now)
  redis-server --bind "$HOST" --port "$REDIS_PORT" --save '' --appendonly no \
    --daemonize yes --pidfile "$REDIS_PID_FILE" --logfile "$REDIS_DIR/redis.log" --dir "$REDIS_DIR" 9>&- ||
    die "redis-server failed to start; see $REDIS_DIR/redis.log"
  for _ in $(seq 100); do
    redis_ping && { say "Redis ready on $HOST:$REDIS_PORT ($(since "$t0"))"; return; }
    sleep 0.1
  done
  tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
  die "Redis did not answer on $HOST:$REDIS_PORT within 10 s"
}

# --- Kafka -----------------------------------------------------------------------------------

TOPICS= # the broker's topic list, as read by the readiness check

kafka_java() { java -cp "$KAFKA_CP" -Dlog4j.configuration="file:$KAFKA_DIR/tools-log4j.properties" "$@"; }

write_kafka_config() {
  mkdir -p "$KAFKA_DATA" "$KAFKA_LOGS"
  cat >"$KAFKA_PROPERTIES" <<EOF
# Written by infra/services-up.sh on every start; edit that script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA

# One node: every replication factor and ISR minimum is 1.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Fewer internal partitions than the default 50 keep the first group join and transaction quick.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10

# Tests join and leave consumer groups constantly; do not wait for more members to arrive.
group.initial.rebalance.delay.ms=0
# Topics are created explicitly (services:up, the log's own setup), never by a stray producer.
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1

# Sized for a 2-core machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=33554432
EOF
  cat >"$KAFKA_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$KAFKA_LOGS/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
log4j.logger.state.change.logger=WARN
EOF
}

write_tool_config() {
  mkdir -p "$KAFKA_LOGS"
  cat >"$KAFKA_DIR/tools-log4j.properties" <<EOF
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
  # The admin client behind the topic tool gives up after this, so a dead broker fails fast.
  printf 'default.api.timeout.ms=15000\nrequest.timeout.ms=5000\n' >"$TOOL_CONFIG"
}

format_kafka_storage() {
  [[ -f $KAFKA_DATA/meta.properties ]] && return
  # A cluster id is 16 random bytes, base64url without padding (what `StorageTool random-uuid`
  # prints), made here to save a JVM start. As Kafka's own Uuid.randomUuid does, an id starting
  # with '-' is drawn again: the storage tool would take it for an option (1 run in 64 failed).
  local cluster_id=-
  while [[ $cluster_id == -* ]]; do
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  done
  say "formatting Kafka storage (cluster id $cluster_id)..."
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPERTIES" \
    >"$KAFKA_LOGS/format.log" 2>&1 || { cat "$KAFKA_LOGS/format.log" >&2; die "formatting Kafka storage failed"; }
}

kafka_log_tail() {
  say "--- tail of $KAFKA_LOGS/server.log ---" >&2
  tail -n 40 "$KAFKA_LOGS/server.log" >&2 2>/dev/null || true
  say "--- tail of $KAFKA_LOGS/stdout.log ---" >&2
  tail -n 20 "$KAFKA_LOGS/stdout.log" >&2 2>/dev/null || true
}

list_topics() {
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
    --command-config "$TOOL_CONFIG" --list 2>>"$KAFKA_LOGS/tools.log"
}

# Ready means the broker answers an admin request, not merely that its port accepts connections.
wait_for_kafka() {
  local pid=$1 t0=$2 deadline=$((SECONDS + KAFKA_READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! alive "$pid"; then
      kafka_log_tail
      die "Kafka (pid $pid) exited during start-up"
    fi
    if port_open "$KAFKA_PORT" && TOPICS=$(list_topics); then
      say "Kafka ready on $HOST:$KAFKA_PORT ($(since "$t0"))"
      return
    fi
    sleep 0.5
  done
  kafka_log_tail
  die "Kafka did not become ready on $HOST:$KAFKA_PORT within ${KAFKA_READY_TIMEOUT} s"
}

start_kafka() {
  local pid t0
  write_tool_config
  if pid=$(live_pid "$KAFKA_PID_FILE" "$KAFKA_MARKER"); then
    say "Kafka already running (pid $pid); checking it answers..."
    wait_for_kafka "$pid" "$(now)"
    return
  fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by a process services:up did not start; set KAFKA_PORT"
  port_open "$KAFKA_CONTROLLER_PORT" &&
    die "port $KAFKA_CONTROLLER_PORT is taken by a process services:up did not start; set KAFKA_CONTROLLER_PORT"
  rm -f "$KAFKA_PID_FILE"
  write_kafka_config
  ensure_kafka_libs
  format_kafka_storage
  say "starting Kafka $KAFKA_VERSION..."
  t0=$(now)
  # setsid: the broker outlives this script and its terminal's Ctrl-C. In a non-interactive shell
  # the background child is not a group leader, so setsid execs in place and $! is the JVM's pid.
  # shellcheck disable=SC2086 # KAFKA_HEAP is a list of JVM flags
  setsid java $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
    -cp "$KAFKA_CP" kafka.Kafka "$KAFKA_PROPERTIES" \
    </dev/null >"$KAFKA_LOGS/stdout.log" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$KAFKA_PID_FILE"
  wait_for_kafka "$pid" "$t0"
}

# --- topics ----------------------------------------------------------------------------------

# name partitions [topic configs...]; the same list as DEFAULT_TOPICS in shared/src/log/types.ts.
TOPIC_SPECS=(
  "events 3"
  "events.late 1"
  "events.dlq 1"
  "user-profiles 3 cleanup.policy=compact"
)

create_topics() {
  local spec name partitions configs created=() pids=()
  for spec in "${TOPIC_SPECS[@]}"; do
    read -r name partitions configs <<<"$spec"
    grep -qxF -- "$name" <<<"$TOPICS" && continue
    local args=(--bootstrap-server "$HOST:$KAFKA_PORT" --command-config "$TOOL_CONFIG"
      --create --if-not-exists --topic "$name" --partitions "$partitions" --replication-factor 1)
    [[ -n $configs ]] && args+=(--config "$configs")
    kafka_java org.apache.kafka.tools.TopicCommand "${args[@]}" >>"$KAFKA_LOGS/tools.log" 2>&1 &
    pids+=($!)
    created+=("$name")
  done
  if ((${#created[@]} == 0)); then
    say "topics present: events, events.late, events.dlq, user-profiles"
    return
  fi
  local p failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  if ((failed)); then
    tail -n 20 "$KAFKA_LOGS/tools.log" >&2
    die "creating topics failed (see $KAFKA_LOGS/tools.log)"
  fi
  say "created topics: ${created[*]}"
}

# The first consumer group and the first transactional producer make the broker create
# __consumer_offsets and __transaction_state; clients meanwhile get "coordinator loading" errors and
# retry. Asking once for each coordinator here keeps that start-up cost out of the first test. The
# tools then report the group / transactional id as unknown, which is expected.
warm_up_coordinators() {
  grep -qxF __consumer_offsets <<<"$TOPICS" && grep -qxF __transaction_state <<<"$TOPICS" && return
  say "preparing Kafka's group and transaction coordinators..."
  local common=(--bootstrap-server "$HOST:$KAFKA_PORT" --command-config "$TOOL_CONFIG")
  kafka_java org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "${common[@]}" \
    --describe --group services-up-warm-up >>"$KAFKA_LOGS/tools.log" 2>&1 &
  local group_pid=$!
  kafka_java org.apache.kafka.tools.TransactionsCommand "${common[@]}" \
    describe --transactional-id services-up-warm-up >>"$KAFKA_LOGS/tools.log" 2>&1 &
  wait "$group_pid" "$!" || true
  TOPICS=$(list_topics) || die "Kafka stopped answering (see $KAFKA_LOGS/server.log)"
  grep -qxF __consumer_offsets <<<"$TOPICS" && grep -qxF __transaction_state <<<"$TOPICS" ||
    die "Kafka did not create its internal topics (see $KAFKA_LOGS/tools.log)"
}

main() {
  local t0
  t0=$(now)
  hold_services_lock
  ensure_commands
  start_redis
  start_kafka
  create_topics
  warm_up_coordinators
  say "services up ($(since "$t0")): redis://$HOST:$REDIS_PORT, kafka $HOST:$KAFKA_PORT; logs in $SERVICES_DIR"
}

main
