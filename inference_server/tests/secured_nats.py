"""A nats-server as it runs in production: TLS with client certificates, nkey users
with the role permissions of deploy/nats/permissions.conf, JetStream. Certificates
and keys are made for each test run (openssl, nkeys); nothing private is committed."""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import nkeys

from .procs import REPO_ROOT, NatsServer

PERMISSIONS = REPO_ROOT / "deploy" / "nats" / "permissions.conf"


def user_seed(path: Path) -> str:
    """Writes a fresh user nkey seed to `path` (mode 0600); returns its public key."""
    seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER)
    path.write_bytes(seed + b"\n")
    os.chmod(path, 0o600)
    return nkeys.from_seed(bytearray(seed)).public_key.decode()


@dataclass
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls(d: Path) -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *ec, "-days", "1", "-subj", "/CN=worker test CA",
        "-keyout", str(d / "ca-key.pem"), "-out", str(d / "ca.pem"))
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                 "extendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text(ext)
        run("req", *ec, "-subj", f"/CN={name}", "-keyout", str(d / f"{name}-key.pem"),
            "-out", str(d / f"{name}.csr"))
        run("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"),
            "-CAkey", str(d / "ca-key.pem"), "-CAcreateserial", "-days", "1",
            "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.pem"))
    return TlsFiles(d / "ca.pem", d / "server.pem", d / "server-key.pem", d / "client.pem",
                    d / "client-key.pem")


def with_hub_publish(permissions: str, subjects: Sequence[str]) -> str:
    """permissions.conf with `subjects` added to HUB_PERMISSIONS' publish allow list
    (those it lacks)."""
    head, sep, rest = permissions.partition("HUB_PERMISSIONS: {")
    allow = "    allow: [\n"
    i = rest.index(allow) + len(allow)
    added = "".join(f'      "{s}",\n' for s in subjects if f'"{s}"' not in rest.split("}")[0])
    return head + sep + rest[:i] + added + rest[i:]


class SecuredNats:
    """The server, the role seed files (hub, worker, cli) and the TLS files."""

    def __init__(self, tmp: Path, hub_publish: Sequence[str] = ()) -> None:
        """`hub_publish`: subjects the hub role may publish to besides the deployed
        ones (a subject the deployed permissions gain on another branch)."""
        self.tls = make_tls(tmp)
        # nats-server includes files relative to the configuration only.
        (tmp / "permissions.conf").write_text(with_hub_publish(PERMISSIONS.read_text(),
                                                               hub_publish))
        self.seeds = {role: tmp / f"{role}.nk" for role in ("hub", "worker", "cli")}
        users = "\n".join(
            f"    {{ nkey: {user_seed(path)}, permissions: ${role.upper()}_PERMISSIONS }}"
            for role, path in self.seeds.items())
        config = f"""
listen: 127.0.0.1:{{port}}
max_payload: 8MB
jetstream {{ store_dir: "{tmp / 'js'}" }}
tls {{
  cert_file: "{self.tls.server_cert}"
  key_file: "{self.tls.server_key}"
  ca_file: "{self.tls.ca}"
  verify: true
  timeout: 2
}}
include "permissions.conf"
authorization {{
  users: [
{users}
  ]
}}
"""
        self.server = NatsServer(tmp, config=config, scheme="tls")
        self.url = self.server.url

    def client_opts(self, role: str) -> dict[str, Any]:
        """nats.connect() keyword arguments of a client in `role`."""
        ctx = ssl.create_default_context(cafile=str(self.tls.ca))
        ctx.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        inbox = {"hub": "_INBOX_hub", "worker": "_INBOX_worker"}.get(role, "_INBOX")
        return {"nkeys_seed": str(self.seeds[role]), "tls": ctx, "inbox_prefix": inbox}

    def worker_env(self) -> dict[str, str]:
        """The environment of a worker in the worker role."""
        return {"NATS_URL": self.url, "NATS_NKEY": str(self.seeds["worker"]),
                "NATS_TLS_CA": str(self.tls.ca), "NATS_TLS_CERT": str(self.tls.client_cert),
                "NATS_TLS_KEY": str(self.tls.client_key)}

    def stop(self) -> None:
        self.server.stop()
