#!/usr/bin/env bash
# A real 3-node Apache Kafka 4.x KRaft cluster on 127.0.0.1, from Maven Central jars.
# Each node is broker and controller; RF 3, min.insync.replicas 2, unclean election off,
# auto-create off, small heaps.
#
#   infra/kafka.sh up          fetch jars (cached), format (first time), start all 3, wait until ready
#   infra/kafka.sh down        stop every node
#   infra/kafka.sh stop N      stop node N (1-3) with SIGTERM;  kill N: SIGKILL
#   infra/kafka.sh start N     start node N again
#   infra/kafka.sh seeds       print the bootstrap list
#   infra/kafka.sh status      exit 0 when every node's broker port answers
#
# Settings: TURNIN_DATA_DIR (default <repo>/.data); data under $TURNIN_DATA_DIR/kafka-cluster.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_dir=${TURNIN_DATA_DIR:-$root/.data}
base=$data_dir/kafka-cluster
libs=$base/libs
# Node n listens on 19092+100(n-1) (clients) and the next port (controller):
# 19092/19093, 19192/19193, 19292/19293. All lie below Linux's ephemeral range
# (32768-60999), so no client socket of a test run, live or in TIME_WAIT, can
# hold a port a node must bind again after a kill.
broker_port() { echo $((19092 + ($1 - 1) * 100)); }
controller_port() { echo $((19093 + ($1 - 1) * 100)); }
seeds="127.0.0.1:$(broker_port 1),127.0.0.1:$(broker_port 2),127.0.0.1:$(broker_port 3)"
voters="1@127.0.0.1:$(controller_port 1),2@127.0.0.1:$(controller_port 2),3@127.0.0.1:$(controller_port 3)"

log() { printf 'kafka: %s\n' "$*" >&2; }

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch the broker jars"; exit 1; }
  command -v java >/dev/null || { log "Java 17+ is required to run the brokers"; exit 1; }
  log "fetching Apache Kafka jars from Maven Central (first run only)"
  mkdir -p "$libs"
  mvn -q -B -f "$root/infra/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >&2
  touch "$libs/.complete"
}

node_conf() {
  local n=$1 dir=$base/node$1
  mkdir -p "$dir/data" "$dir/logs"
  cat >"$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
auto.create.topics.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
share.coordinator.state.topic.num.partitions=10
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
log.cleaner.dedupe.buffer.size=33554432
CONF
}

java_run() { java -Xms512m -Xmx512m -XX:+UseG1GC -cp "$libs/*" "$@"; }

format() {
  if [ -f "$base/.formatted" ]; then return 0; fi
  local cid
  cid=$(java_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  for n in 1 2 3; do
    node_conf "$n"
    java_run kafka.tools.StorageTool format -t "$cid" -c "$base/node$n/server.properties" >/dev/null
  done
  echo "$cid" >"$base/.formatted"
  log "formatted cluster $cid"
}

start_node() {
  local n=$1 dir=$base/node$1
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then return 0; fi
  local p
  for p in "$(broker_port "$n")" "$(controller_port "$n")"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      log "node $n: port $p is already in use (another cluster from another checkout? infra/kafka.sh down there)"
      exit 1
    fi
  done
  node_conf "$n"
  : >"$dir/logs/server.log"
  nohup java -Xms512m -Xmx512m -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$root/infra/kafka/log4j2.xml" -Dkafka.logs.dir="$dir/logs" \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties" >"$dir/logs/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
}

wait_ready() {
  local deadline=$((SECONDS + ${1:-120}))
  for n in 1 2 3; do
    until grep -q "Kafka Server started" "$base/node$n/logs/server.log" 2>/dev/null; do
      local why=
      if [ $SECONDS -ge $deadline ]; then why="not ready after ${1:-120}s"; fi
      if ! kill -0 "$(cat "$base/node$n/pid" 2>/dev/null)" 2>/dev/null; then why="exited"; fi
      if [ -n "$why" ]; then
        log "node $n $why; last lines of its log:"; tail -20 "$base/node$n/logs/server.log" >&2 || true; exit 1
      fi
      sleep 0.5
    done
  done
}

stop_node() {
  local n=$1 sig=${2:-TERM} dir=$base/node$1
  [ -f "$dir/pid" ] || return 0
  local pid; pid=$(cat "$dir/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    # A broker that lost its quorum can wait forever on a controlled shutdown.
    if kill -0 "$pid" 2>/dev/null; then
      log "node $n did not stop within 30s of SIG$sig; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
  fi
  rm -f "$dir/pid"
}

case "${1:-}" in
  up)
    fetch; format
    # All three together: a broker waits for a quorum of controllers.
    # Leave nothing half-started behind a failure.
    trap 'for n in 1 2 3; do stop_node "$n" KILL; done' EXIT
    for n in 1 2 3; do start_node "$n"; done
    wait_ready 180
    trap - EXIT
    log "3 brokers ready: $seeds"
    echo "$seeds" ;;
  down) for n in 1 2 3; do stop_node "$n"; done; log "stopped" ;;
  stop) stop_node "${2:?node 1-3}" TERM ;;
  kill) stop_node "${2:?node 1-3}" KILL ;;
  start) start_node "${2:?node 1-3}" ;;
  seeds) echo "$seeds" ;;
  status)
    for n in 1 2 3; do (exec 3<>"/dev/tcp/127.0.0.1/$(broker_port "$n")") 2>/dev/null || exit 1; done ;;
  *) echo "usage: $0 up|down|stop N|kill N|start N|seeds|status" >&2; exit 2 ;;
esac
