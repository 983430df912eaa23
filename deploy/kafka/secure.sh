# Sourced by kafka.sh: the secured single node (`kafka.sh secure`) and its grants.
#
# One KRaft node whose client listener is SASL_SSL on 127.0.0.1:$SECURE_PORT (default 9094):
# TLS with a certificate from a CA made here, client certificates required (mutual TLS), then a
# SASL login (SCRAM-SHA-512 or PLAIN) whose user is the principal the ACLs name. The controller
# listener (:SECURE_PORT+1) is TLS with client certificates too. StandardAuthorizer with
# allow.everyone.if.no.acl.found=false: a user without an ACL gets nothing.
#
# Users: admin (super user; creates topics and ACLs), gateway, router, broker (inter-broker).
# Their passwords are random, in $SECURE/secrets/NAME.password (mode 600); certificates and
# keys (PEM, for librdkafka) in $SECURE/certs. A second CA ("rogue") issues a certificate the
# broker must refuse.

SECURE=$RUN/secure
SECURE_PORT=${KAFKA_SECURE_PORT:-9094}
USERS="admin gateway router broker"

need_openssl() {
  command -v openssl >/dev/null 2>&1 || die "openssl not found: install it (Debian: apt-get install -y openssl)"
  command -v keytool >/dev/null 2>&1 || die "keytool not found: it comes with the JDK (Debian: apt-get install -y openjdk-17-jdk-headless)"
}

# issue NAME CA: a key and a certificate for NAME (CN=NAME), signed by CA, valid for 127.0.0.1,
# localhost and kafka (the broker's name in deploy/docker-compose.yml), usable by a server and a
# client.
issue() {
  local name=$1 ca=$2
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kafka\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -days 825 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

make_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" -keyout "$1.key" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# The CA, the broker's keystore and truststore, client certificates and the passwords: made
# once, kept across restarts.
make_secrets() {
  [ -f "$SECURE/.secrets-complete" ] && return 0
  need_openssl
  rm -rf "$SECURE/certs" "$SECURE/secrets"
  mkdir -p "$SECURE/certs" "$SECURE/secrets"
  chmod 700 "$SECURE/secrets"
  (
    umask 077
    for user in $USERS store; do openssl rand -hex 16 >"$SECURE/secrets/$user.password"; done
    cd "$SECURE/certs"
    make_ca ca "Xiezhi development CA"
    for name in broker admin gateway router; do issue "$name" ca; done
    # A certificate that claims to be the router but comes from a CA the broker does not trust.
    make_ca rogue-ca "Someone else's CA"
    issue rogue rogue-ca
    local pass
    pass=$(cat "$SECURE/secrets/store.password")
    for name in broker admin; do
      openssl pkcs12 -export -in "$name.pem" -inkey "$name.key" -certfile ca.pem -name "$name" \
        -out "$name.p12" -passout "pass:$pass"
    done
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore trust.p12 -storetype PKCS12 \
      -storepass "$pass" >/dev/null 2>&1
  ) || die "making the development CA and certificates failed"
  touch "$SECURE/.secrets-complete"
}

secret() { cat "$SECURE/secrets/$1.password"; }

# What deploy/docker-compose.yml reads: the passwords as variables (--env-file) and the admin's
# client settings with the paths the containers see (/etc/kafka/secure).
write_compose_files() {
  (umask 077
  {
    echo "KAFKA_STORE_PASSWORD=$(secret store)"
    for user in $USERS; do echo "$(echo "$user" | tr a-z A-Z)_PASSWORD=$(secret "$user")"; done
  } >"$SECURE/compose.env"
  cat >"$SECURE/compose-admin.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$(secret admin)";
ssl.truststore.type=PKCS12
ssl.truststore.location=/etc/kafka/secure/certs/trust.p12
ssl.truststore.password=$(secret store)
ssl.keystore.type=PKCS12
ssl.keystore.location=/etc/kafka/secure/certs/admin.p12
ssl.keystore.password=$(secret store)
EOF
  )
}

# `kafka.sh secrets`: the CA, certificates and passwords without starting a broker.
make_secure_files() {
  make_secrets
  write_compose_files
  say "CA, certificates and passwords in $SECURE (compose: --env-file $SECURE/compose.env)"
}

write_secure_props() {
  local dir=$1 pass broker plain_users=""
  pass=$(secret store)
  broker=$(secret broker)
  for user in $USERS; do plain_users+=" user_$user=\"$(secret "$user")\""; done
  (umask 077; cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$((SECURE_PORT + 1))
listeners=CLIENTS://127.0.0.1:$SECURE_PORT,CONTROLLER://127.0.0.1:$((SECURE_PORT + 1))
advertised.listeners=CLIENTS://127.0.0.1:$SECURE_PORT,CONTROLLER://127.0.0.1:$((SECURE_PORT + 1))
controller.listener.names=CONTROLLER
inter.broker.listener.name=CLIENTS
listener.security.protocol.map=CONTROLLER:SSL,CLIENTS:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.clients.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$broker";
listener.name.clients.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="$broker"$plain_users;
ssl.keystore.type=PKCS12
ssl.keystore.location=$SECURE/certs/broker.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
ssl.truststore.type=PKCS12
ssl.truststore.location=$SECURE/certs/trust.p12
ssl.truststore.password=$pass
ssl.client.auth=required
listener.name.clients.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:broker;User:admin
allow.everyone.if.no.acl.found=false
$(one_node_settings "$dir")
EOF
  cat >"$SECURE/admin.properties" <<EOF
bootstrap.servers=127.0.0.1:$SECURE_PORT
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secret admin)";
ssl.truststore.type=PKCS12
ssl.truststore.location=$SECURE/certs/trust.p12
ssl.truststore.password=$pass
ssl.keystore.type=PKCS12
ssl.keystore.location=$SECURE/certs/admin.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
EOF
  )
}

start_secure() {
  fetch
  make_secrets
  write_compose_files
  local dir=$SECURE/node
  mkdir -p "$dir/data"
  if port_open "$SECURE_PORT" && ! pid_alive "$dir/pid"; then
    die "127.0.0.1:$SECURE_PORT is already taken by another process"
  fi
  cluster_id "$SECURE"
  write_secure_props "$dir"
  # The SCRAM users are written into the metadata log when the storage is formatted.
  local format=(--standalone)
  for user in $USERS; do format+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(secret "$user")]"); done
  launch "$dir" "${KAFKA_HEAP:-1g}" "${format[@]}"
  wait_port "$SECURE_PORT" "$dir/pid" "$dir/server.log"
  say "secure node up: SASL_SSL on 127.0.0.1:$SECURE_PORT (pid $(cat "$dir/pid")), log $dir/server.log"
  say "CA $SECURE/certs/ca.pem; client certificates $SECURE/certs/{gateway,router}.{pem,key}; passwords $SECURE/secrets"
}

# grant EVENTS DLQ AUDIT GROUP [PARTITIONS [DECISIONS ACKS]]: create the topics (as admin) and give
# each role only what it needs. The gateway appends events; the router reads them (and appends
# referral steps to them), writes and re-reads dead letters, writes audit entries, and commits in
# its group. Both may read the events topic's configuration, which start-up checks (kept
# forever). With DECISIONS and ACKS, router replicas (router.replicas) also get those topics, the
# writers' group GROUP.writer, the followers' reader group and the transactional id GROUP.writer.
grant() {
  local events=${1:?events topic} dlq=${2:?dlq topic} audit=${3:?audit topic} group=${4:?router group} partitions=${5:-12} decisions=${6:-} acks=${7:-}
  fetch
  [ -f "$SECURE/admin.properties" ] || die "no secure node set up here: run kafka.sh secure first"
  local replicas=()
  if [ -n "$decisions" ]; then
    replicas=("topic:$decisions:1:1:1:16777216"
      "allow:router:TOPIC:$decisions:READ,WRITE,DESCRIBE"
      "topic:${acks:?acks topic}:1:1:1"
      "allow:router:TOPIC:$acks:READ,WRITE,DESCRIBE"
      "allow:router:GROUP:$group.writer:READ,DESCRIBE"
      "allow:router:GROUP:xiezhi-replica:READ,DESCRIBE"
      "allow:router:TRANSACTIONAL_ID:$group.writer:WRITE,DESCRIBE")
  fi
  java -Xmx256m -cp "$LIBS/*" -Dlog4j2.configurationFile="$HERE/quiet-log4j2.properties" "$HERE/Grant.java" \
    "$SECURE/admin.properties" \
    "${replicas[@]}" \
    "topic:$events:$partitions:1:1" "topic:$dlq:1:1:1" "topic:$audit:1:1:1" \
    "allow:gateway:TOPIC:$events:WRITE,DESCRIBE,DESCRIBE_CONFIGS" \
    "allow:router:TOPIC:$events:READ,WRITE,DESCRIBE,DESCRIBE_CONFIGS" \
    "allow:router:TOPIC:$dlq:READ,WRITE,DESCRIBE" \
    "allow:router:TOPIC:$audit:WRITE,DESCRIBE" \
    "allow:router:GROUP:$group:READ,DESCRIBE" \
    "allow:router:GROUP:xiezhi-reader:READ,DESCRIBE" ||
    die "granting topics and ACLs failed (see above)"
}
