#!/usr/bin/env bash
# test_tlsfront: the TLS front (`--apiserver-tls-threads N`, off by default) passes the
# apiserver's and the slowloris checks: TLS on 2 threads of their own, plaintext handed to the
# loop over the in-process transport (docs/apiserver.md, "The TLS front").
set -uo pipefail
here="$(dirname "$0")"
export E2E_SERVER_ARGS="--apiserver-tls-threads 2 ${E2E_SERVER_ARGS:-}"
rc=0
bash "$here/test_apiserver.sh" || rc=1
bash "$here/test_slowloris.sh" || rc=1
exit $rc
