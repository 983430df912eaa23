#!/usr/bin/env bash
# A real Apache Kafka (KRaft, no ZooKeeper) for development and tests, built from Maven Central
# jars with the machine's Java 17+ and Maven. No tarball, no Docker.
#
#   deploy/kafka/kafka.sh fetch              download the broker jars once (cached)
#   deploy/kafka/kafka.sh start              one node: broker+controller on 127.0.0.1:9092
#   deploy/kafka/kafka.sh secure             one node, SASL_SSL on 127.0.0.1:9094: mutual TLS, SCRAM
#                                            users admin/gateway/router, ACLs (see secure.sh)
#   deploy/kafka/kafka.sh secrets            only the CA, certificates and passwords (for compose)
#   deploy/kafka/kafka.sh grant EVENTS DLQ AUDIT GROUP [PARTITIONS [DECISIONS ACKS]]   on the secure node: create
#                                            the topics, give gateway and router their ACLs
#   deploy/kafka/kafka.sh cluster            three nodes on 127.0.0.1:19092, :29092, :39092
#                                            (replication 3, min.insync.replicas=2)
#   deploy/kafka/kafka.sh stop [single|secure|cluster|all]   stop what this script started (default all)
#   deploy/kafka/kafka.sh kill-node N        SIGKILL cluster node N (1-3), for fault tests
#   deploy/kafka/kafka.sh start-node N       start cluster node N again
#   deploy/kafka/kafka.sh status             what runs, where its logs are
#   deploy/kafka/kafka.sh producer-perf ARGS  Kafka's own ProducerPerformance tool (kafka-tools)
#
# The broker logs through log4j2 (log4j-slf4j-impl binds the slf4j 1.7 API Kafka 4.1 uses).
#
# Options (after the command): --until-pid PID  stop what this call started once PID exits (the
# test suite uses it so that a broker it started never outlives it).
#
# Environment: KAFKA_VERSION (default 4.1.1), KAFKA_PORT (single node, default 9092),
# KAFKA_SECURE_PORT (secure node, default 9094; its controller listens on the next port),
# XIEZHI_KAFKA_HOME (jars and data; default <repo>/target/kafka), KAFKA_HEAP (single node,
# default 1g; cluster nodes use 512m each).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
LOG4J_VERSION=2.24.3
BASE=${XIEZHI_KAFKA_HOME:-$REPO/target/kafka}
LIBS=$BASE/libs-$KAFKA_VERSION
RUN=$BASE/run
PORT=${KAFKA_PORT:-9092}

# shellcheck source=deploy/kafka/secure.sh
. "$HERE/secure.sh"

say() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

need_tools() {
  command -v java >/dev/null 2>&1 || die "java not found: install a Java 17+ JDK (Debian: apt-get install -y openjdk-17-jdk-headless)"
  local major
  major=$(java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1])}')
  [ "${major:-0}" -ge 17 ] || die "Java $major found; Kafka $KAFKA_VERSION needs Java 17 or newer"
  command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven (Debian: apt-get install -y maven)"
}

fetch() {
  # kafka-tools (ProducerPerformance, for `xiezhi bench --baseline`) joined the set later: a
  # cache without it is fetched again.
  [ -f "$LIBS/.complete" ] && [ -f "$LIBS/kafka-tools-$KAFKA_VERSION.jar" ] && return 0
  need_tools
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  mkdir -p "$BASE/pom" "$LIBS"
  cat >"$BASE/pom/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>xiezhi</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  (cd "$BASE/pom" && mvn -q -B -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS") || die "maven could not fetch the Kafka jars (is Maven Central reachable?)"
  ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar in $LIBS after fetching"
  touch "$LIBS/.complete"
}

# log4j2 config writing the broker's log to $1/server.log.
write_log4j() {
  cat >"$1/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $1/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

# port_open PORT: true if something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Who keeps a broker running: one file per owner in DIR/owners — a test process's pid (from
# --until-pid), or "manual" for a start by hand, which only `stop` ends. A broker is stopped
# when its last owning process has exited. Owners are added and released under DIR/owners.lock,
# so a suite starting while the previous one exits either shares the broker or starts a new one.
own() {
  local dir=$1
  mkdir -p "$dir/owners"
  if [ -z "$owner" ]; then
    touch "$dir/owners/manual"
    return 0
  fi
  touch "$dir/owners/$owner"
  nohup bash -c "while kill -0 $owner 2>/dev/null; do sleep 1; done; '$HERE/kafka.sh' release-dir '$dir' $owner" \
    >/dev/null 2>&1 9>&- &
}

# release_dir DIR PID: PID no longer needs the broker; stop it if nobody else does.
release_dir() {
  local dir=$1 gone=$2
  (
    flock 9
    rm -f "$dir/owners/$gone"
    for file in "$dir"/owners/*; do
      [ -e "$file" ] || continue
      local who
      who=$(basename "$file")
      if [ "$who" = manual ] || kill -0 "$who" 2>/dev/null; then exit 0; fi
      rm -f "$file"
    done
    stop_dir "$dir"
  ) 9>"$dir/owners.lock"
}

# launch DIR HEAP [FORMAT-ARGS...]: format DIR's storage (with FORMAT-ARGS) if needed and start
# the broker in the background (or join the one already running there).
launch() {
  local dir=$1 heap=$2
  shift 2
  exec 9>"$dir/owners.lock"
  flock 9
  if pid_alive "$dir/pid"; then
    own "$dir"
    flock -u 9
    say "already running (pid $(cat "$dir/pid")), log $dir/server.log"
    return 0
  fi
  rm -rf "$dir/owners"
  write_log4j "$dir"
  local cp="$LIBS/*"
  if [ ! -f "$dir/data/meta.properties" ]; then
    java -cp "$cp" -Dlog4j2.configurationFile="$dir/log4j2.properties" kafka.tools.StorageTool \
      format -t "$(cat "$dir/../cluster.id")" -c "$dir/server.properties" "$@" -g \
      >"$dir/format.log" 2>&1 || die "storage format failed: $(cat "$dir/format.log")"
  fi
  nohup java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$cp" kafka.Kafka "$dir/server.properties" \
    >"$dir/stdout.log" 2>&1 9>&- &
  echo $! >"$dir/pid"
  # With --until-pid, this broker is stopped once the owner exits — even if this script fails
  # further on.
  own "$dir"
  flock -u 9
}

# wait_port PORT PIDFILE LOG: wait until the broker accepts connections.
wait_port() {
  local port=$1 pidfile=$2 log=$3
  for _ in $(seq 1 240); do
    port_open "$port" && return 0
    pid_alive "$pidfile" || die "broker exited during start-up; see $log and $(dirname "$log")/stdout.log"
    sleep 0.25
  done
  die "broker did not listen on 127.0.0.1:$port within 60 s; see $log"
}

# The settings of a one-node cluster (single and secure): data in DIR/data, internal topics
# without replicas, topics only when created on purpose.
one_node_settings() {
  cat <<EOF
log.dirs=$1/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
}

cluster_id() {
  local file=$1/cluster.id
  [ -f "$file" ] || java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$file"
}

start_single() {
  fetch
  local dir=$RUN/single/node
  mkdir -p "$dir/data"
  if port_open "$PORT" && ! pid_alive "$dir/pid"; then
    die "127.0.0.1:$PORT is already taken by another process"
  fi
  cluster_id "$RUN/single"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$((PORT + 1))
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$((PORT + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$((PORT + 1))
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
$(one_node_settings "$dir")
EOF
  launch "$dir" "${KAFKA_HEAP:-1g}" --standalone
  wait_port "$PORT" "$dir/pid" "$dir/server.log"
  say "single node up on 127.0.0.1:$PORT (pid $(cat "$dir/pid")), log $dir/server.log"
}

node_props() {
  local i=$1 dir=$RUN/cluster/node$1
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093
listeners=PLAINTEXT://127.0.0.1:${i}9092,CONTROLLER://127.0.0.1:${i}9093
advertised.listeners=PLAINTEXT://127.0.0.1:${i}9092,CONTROLLER://127.0.0.1:${i}9093
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
unclean.leader.election.enable=false
EOF
}

start_node() {
  local i=$1
  [[ "$i" =~ ^[123]$ ]] || die "node must be 1, 2 or 3"
  fetch
  cluster_id "$RUN/cluster"
  node_props "$i"
  launch "$RUN/cluster/node$i" 512m
}

start_cluster() {
  fetch
  mkdir -p "$RUN/cluster"
  for i in 1 2 3; do start_node "$i"; done
  for i in 1 2 3; do wait_port "${i}9092" "$RUN/cluster/node$i/pid" "$RUN/cluster/node$i/server.log"; done
  say "cluster up on 127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092; logs $RUN/cluster/node*/server.log"
}

stop_dir() {
  local dir=$1
  rm -rf "$dir/owners"
  pid_alive "$dir/pid" || { rm -f "$dir/pid"; return 0; }
  local pid
  pid=$(cat "$dir/pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
  say "stopped $(basename "$(dirname "$dir")")/$(basename "$dir") (pid $pid)"
}

stop() {
  local which=${1:-all}
  case "$which" in
    single) stop_dir "$RUN/single/node" ;;
    secure) stop_dir "$SECURE/node" ;;
    cluster) for i in 1 2 3; do stop_dir "$RUN/cluster/node$i"; done ;;
    all) stop single; stop secure; stop cluster ;;
    *) die "stop what? single, secure, cluster or all" ;;
  esac
}

status() {
  local any=0
  for dir in "$RUN/single/node" "$SECURE/node" "$RUN/cluster/node1" "$RUN/cluster/node2" "$RUN/cluster/node3"; do
    if pid_alive "$dir/pid"; then
      any=1
      echo "running: ${dir#"$RUN"/} pid $(cat "$dir/pid") log $dir/server.log"
    fi
  done
  [ $any = 1 ] || echo "no broker started by this script is running"
}

command=${1:-}
shift || true
owner=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --until-pid) owner=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

case "$command" in
  fetch) fetch; say "jars ready in $LIBS" ;;
  start) start_single ;;
  secure) start_secure ;;
  secrets) make_secure_files ;;
  grant) grant "${args[@]}" ;;
  cluster) start_cluster ;;
  stop) stop "${args[0]:-all}" ;;
  kill-node)
    dir=$RUN/cluster/node${args[0]:?node number}
    pid_alive "$dir/pid" && kill -KILL "$(cat "$dir/pid")" && say "killed node ${args[0]}"
    rm -f "$dir/pid" ;;
  start-node)
    start_node "${args[0]:?node number}"
    wait_port "${args[0]}9092" "$RUN/cluster/node${args[0]}/pid" "$RUN/cluster/node${args[0]}/server.log" ;;
  status) status ;;
  producer-perf)
    fetch
    exec java -Xmx512m -cp "$LIBS/*" -Dlog4j2.configurationFile="$HERE/quiet-log4j2.properties" \
      org.apache.kafka.tools.ProducerPerformance "${args[@]}" ;;
  stop-dir) stop_dir "${args[0]:?directory}" ;;
  release-dir) release_dir "${args[0]:?directory}" "${args[1]:?owner pid}" ;;
  *) sed -n '2,28p' "$0"; exit 2 ;;
esac
exit 0
