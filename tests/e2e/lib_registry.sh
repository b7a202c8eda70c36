# lib_registry.sh: a test registry (Debian's docker-registry) on loopback for the image tests,
# sourced after lib.sh or lib_node.sh. REG is the directory it keeps its files in.

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# registry_tls CA-CN: a test CA (REG/ca.crt) and a serving certificate for 127.0.0.1 and
# localhost from it (REG/server.crt, REG/server.key).
registry_tls() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
        -keyout "$REG/ca.key" -out "$REG/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
        -keyout "$REG/server.key" -out "$REG/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$REG/san.ext"
    openssl x509 -req -in "$REG/server.csr" -CA "$REG/ca.crt" -CAkey "$REG/ca.key" -CAcreateserial \
        -days 2 -extfile "$REG/san.ext" -out "$REG/server.crt" 2>/dev/null
}

# registry_htpasswd: REG/htpasswd with user test / password secret, bcrypt as docker-registry
# wants (cost 4: the registry checks it on every request).
registry_htpasswd() {
    /usr/bin/python3 -W ignore -c 'import crypt; print("test:" + crypt.crypt("secret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' \
        >"$REG/htpasswd" || fail "htpasswd"
}

# registry_config FILE PORT LOG-LEVEL [EXTRA-YAML]: a TLS registry config on REG/storage; the
# EXTRA-YAML lines are appended as they are (at the top level, e.g. an auth section, or
# indented by four to continue http.tls).
registry_config() {
    cat >"$1" <<YAML
version: 0.1
log:
  level: $3
storage:
  filesystem:
    rootdirectory: $REG/storage
http:
  addr: 127.0.0.1:$2
  tls:
    certificate: $REG/server.crt
    key: $REG/server.key
YAML
    [[ -z ${4:-} ]] || printf '%s\n' "$4" >>"$1"
}

# registry_htpasswd_auth: the AUTH-YAML for registry_htpasswd's file.
registry_htpasswd_auth() {
    printf 'auth:\n  htpasswd:\n    realm: kubeling-test\n    path: %s/htpasswd\n' "$REG"
}

# registry_wait PORT LOG: waits until the registry on PORT answers /v2/ with 401 (up, wanting
# credentials); fails the test with its LOG when it does not within 10 s.
registry_wait() {
    local code= _
    for _ in $(seq 200); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG/ca.crt" "https://127.0.0.1:$1/v2/" 2>/dev/null || true)
        [[ "$code" == 401 ]] && return 0
        sleep 0.05
    done
    cat "$2"
    fail "registry did not start"
}
