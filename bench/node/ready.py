#!/usr/bin/python3
"""bench/node/ready.py BIN DATA PORT: starts `kubeling server` and prints the milliseconds from
the spawn to the first watch event (GET /api/v1/nodes?watch=1) carrying a node whose Ready
condition is True. The watch is opened as soon as the apiserver answers, with
resourceVersion=0, so a node registered before that arrives as the first ADDED event: the
figure is an upper bound. Leaves the server running and prints its pid."""
import base64, json, os, re, socket, ssl, subprocess, sys, time

binary, data, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.monotonic()
proc = subprocess.Popen([binary, "server", "--data-dir", data, "--https-listen-port", str(port),
                         "--bind-address", "127.0.0.1", "--write-kubeconfig", data + ".kubeling.yaml"],
                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(data + ".log"), "w"))
kcfg = os.path.join(data, "server", "admin.kubeconfig")


def credentials():
    text = open(kcfg).read()
    files = {}
    for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
        value = re.search(key + r": (\S+)", text).group(1)
        path = os.path.join(data, key)
        with open(path, "wb") as f:
            f.write(base64.b64decode(value))
        files[key] = path
    ctx = ssl.create_default_context(cafile=files["certificate-authority-data"])
    ctx.load_cert_chain(files["client-certificate-data"], files["client-key-data"])
    return ctx


ctx = None
while True:
    if time.monotonic() - t0 > 30:
        sys.exit("no Ready node within 30 s")
    try:
        if ctx is None:
            if not os.path.exists(kcfg):
                raise OSError
            ctx = credentials()
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                            server_hostname="localhost")
        break
    except (OSError, ssl.SSLError, AttributeError):
        ctx = None if not os.path.exists(kcfg) else ctx
        time.sleep(0.002)
s.sendall(b"GET /api/v1/nodes?watch=1&resourceVersion=0 HTTP/1.1\r\nHost: x\r\n\r\n")
buf = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("watch closed")
    buf += chunk
    ready = False
    for line in buf.split(b"\n"):
        if b'"type":"Ready","status":"True"' in line.replace(b" ", b""):
            ready = True
    if ready:
        break
print("%d %d" % ((time.monotonic() - t0) * 1000, proc.pid))
