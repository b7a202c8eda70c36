#!/usr/bin/python3
# registry.py: test fixtures around Debian's docker-registry (distribution 2.8) on loopback:
#   registry.py token-server PORT DIR     serve bearer tokens (basic auth test:secret) over HTTP
#   registry.py mint DIR SCOPE            print a token for SCOPE (push setup)
#   registry.py push DIR URL REPO TAG OCI_DIR CAFILE   push an OCI layout's image, plus an
#                                         index with a second (foreign) platform under TAG
#                                         (basic auth instead of a token when $REGISTRY_BASIC
#                                         is user:password, for an htpasswd registry)
# DIR holds token.key/token.crt (made here when missing). Tokens are RS256 JWTs with the
# signing certificate in x5c, which the registry checks against its rootcertbundle.
import base64, datetime, hashlib, http.server, json, os, ssl, sys, time, urllib.parse, urllib.request
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

SERVICE, ISSUER = "kubeling-test-registry", "kubeling-test-issuer"

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def keys(d):
    kp, cp = os.path.join(d, "token.key"), os.path.join(d, "token.crt")
    if not os.path.exists(kp):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeling test token signer")])
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        open(kp, "wb").write(key.private_bytes(serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        open(cp, "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    key = serialization.load_pem_private_key(open(kp, "rb").read(), None)
    cert = x509.load_pem_x509_certificate(open(cp, "rb").read())
    return key, cert

def mint(d, scopes):
    key, cert = keys(d)
    access = []
    for s in scopes:
        typ, name, actions = s.split(":") if s.count(":") == 2 else (None, None, None)
        if typ:
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256",
              "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}
    claims = {"iss": ISSUER, "sub": "test", "aud": SERVICE, "exp": now + 600, "nbf": now - 10,
              "iat": now, "jti": os.urandom(8).hex(), "access": access}
    msg = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = key.sign(msg.encode(), padding.PKCS1v15(), hashes.SHA256())
    return msg + "." + b64(sig)

def token_server(port, d):
    want = "Basic " + base64.b64encode(b"test:secret").decode()
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass
        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            if self.headers.get("Authorization") != want:
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required: bad or missing credentials"}]}).encode()
                self.send_response(401)
            else:
                scopes = [s for s in q.get("scope", []) if s.endswith(":pull")]
                body = json.dumps({"token": mint(d, scopes)}).encode()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    http.server.HTTPServer(("127.0.0.1", int(port)), H).serve_forever()

def push(d, url, repo, tag, oci, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    basic = os.environ.get("REGISTRY_BASIC")  # user:password of an htpasswd registry
    auth = ("Basic " + base64.b64encode(basic.encode()).decode() if basic
            else "Bearer " + mint(d, ["repository:%s:push,pull" % repo]))
    def req(method, u, data=None, ctype=None):
        r = urllib.request.Request(u if u.startswith("http") else url + u, data=data, method=method)
        r.add_header("Authorization", auth)
        if ctype:
            r.add_header("Content-Type", ctype)
        return urllib.request.urlopen(r, context=ctx)
    def blob(data):
        dg = "sha256:" + hashlib.sha256(data).hexdigest()
        loc = req("POST", "/v2/%s/blobs/uploads/" % repo).headers["Location"]
        sep = "&" if "?" in loc else "?"
        req("PUT", loc + sep + "digest=" + dg, data, "application/octet-stream")
        return dg
    def manifest(ref, data, mt):
        req("PUT", "/v2/%s/manifests/%s" % (repo, ref), data, mt)
        return "sha256:" + hashlib.sha256(data).hexdigest()
    blobs = os.path.join(oci, "blobs", "sha256")
    for name in os.listdir(blobs):
        blob(open(os.path.join(blobs, name), "rb").read())
    index = json.load(open(os.path.join(oci, "index.json")))
    desc = index["manifests"][0]
    top = json.load(open(os.path.join(blobs, desc["digest"][7:])))
    if "manifests" in top:  # the nested index: push its own-platform manifest
        desc = [m for m in top["manifests"] if os.path.exists(os.path.join(blobs, m["digest"][7:]))][0]
    mbytes = open(os.path.join(blobs, desc["digest"][7:]), "rb").read()
    mt = "application/vnd.oci.image.manifest.v1+json"
    own = manifest(tag + "-single", mbytes, mt)
    m = json.loads(mbytes)
    arch = json.load(open(os.path.join(blobs, m["config"]["digest"][7:])))["architecture"]
    other = "arm64" if arch != "arm64" else "amd64"
    cfg = json.dumps({"architecture": other, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    m2 = json.dumps({"schemaVersion": 2, "mediaType": mt, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(cfg), "size": len(cfg)}, "layers": []}).encode()
    foreign = manifest("foreign", m2, mt)
    idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": mt, "digest": foreign, "size": len(m2), "platform": {"architecture": other, "os": "linux"}},
        {"mediaType": mt, "digest": own, "size": len(mbytes), "platform": {"architecture": arch, "os": "linux"}}]}).encode()
    print(manifest(tag, idx, "application/vnd.oci.image.index.v1+json"), own)

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "token-server":
        token_server(sys.argv[2], sys.argv[3])
    elif cmd == "mint":
        print(mint(sys.argv[2], sys.argv[3:]))
    elif cmd == "push":
        push(*sys.argv[2:8])
