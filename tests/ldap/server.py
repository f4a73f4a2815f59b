"""A real OpenLDAP server for the directory tests.

:class:`Slapd` writes a ``slapd.conf`` (mdb backend, ``memberof`` overlay so
groupOfNames membership also shows up as AD-style ``memberOf``, a TLS
certificate signed by a throw-away CA) into a temporary directory, starts
Debian's ``slapd`` on free loopback ports and seeds it with ``seed.ldif``
through ``ldapadd`` (online, so the overlay writes ``memberOf``). Tests change
the directory with ``ldapmodify`` and stop the server to see what a sync does
when the directory goes away.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SEED_LDIF = Path(__file__).with_name("seed.ldif")
SUFFIX = "dc=example,dc=com"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-secret-9Lp"
READER_DN = f"cn=reader,ou=system,{SUFFIX}"
READER_PASSWORD = "reader-secret-7Qx"
LIMITED_DN = f"cn=limited,ou=system,{SUFFIX}"
LIMITED_PASSWORD = "limited-secret-3Jw"
START_DEADLINE = 15.0

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"


def slapd_available() -> bool:
    return Path(SLAPD).is_file() and shutil.which("ldapadd") is not None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``localhost`` / ``127.0.0.1``; returns the paths."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fedwall test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server.key",
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


class Slapd:
    """One slapd process serving ``dc=example,dc=com`` from ``workdir``."""

    def __init__(self, workdir: Path, *, tls: bool = True) -> None:
        self.workdir = workdir
        self.tls = tls
        self.port = free_port()
        self.tls_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # True once a test changed the data: the fixture then reseeds.
        self.changed = False
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca_file, cert_file, key_file = _write_certificates(workdir)
        self.config_file = workdir / "slapd.conf"
        self.config_file.write_text(
            "\n".join(
                [
                    *(
                        f"include /etc/ldap/schema/{name}.schema"
                        for name in ("core", "cosine", "inetorgperson", "nis")
                    ),
                    "modulepath /usr/lib/ldap",
                    "moduleload back_mdb",
                    "moduleload memberof",
                    f"pidfile {workdir / 'slapd.pid'}",
                    f"argsfile {workdir / 'slapd.args'}",
                    *(
                        [
                            f"TLSCACertificateFile {self.ca_file}",
                            f"TLSCertificateFile {cert_file}",
                            f"TLSCertificateKeyFile {key_file}",
                        ]
                        if tls
                        else []
                    ),
                    "database mdb",
                    f'suffix "{SUFFIX}"',
                    f'rootdn "{ADMIN_DN}"',
                    f"rootpw {ADMIN_PASSWORD}",
                    f"directory {self.db_dir}",
                    "maxsize 104857600",
                    f'limits dn.exact="{LIMITED_DN}" size=2',
                    "access to attrs=userPassword",
                    "    by self write",
                    "    by anonymous auth",
                    "    by * none",
                    "access to *",
                    "    by * read",
                    "overlay memberof",
                    "memberof-refint TRUE",
                    "",
                ]
            ),
            encoding="utf-8",
        )

    @property
    def db_dir(self) -> Path:
        return self.workdir / "db"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://localhost:{self.tls_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start slapd (keeping the data of an earlier run) and wait until it answers."""
        self.db_dir.mkdir(exist_ok=True)
        listen = [f"ldap://127.0.0.1:{self.port}/"]
        if self.tls:
            # 127.0.0.2 is the same server under a name its certificate does not have.
            listen += [f"ldaps://127.0.0.1:{self.tls_port}/", f"ldaps://127.0.0.2:{self.tls_port}/"]
        self.process = subprocess.Popen(
            [
                SLAPD,
                "-h",
                " ".join(listen),
                "-f",
                str(self.config_file),
                "-d",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                assert self.process.stderr is not None
                raise RuntimeError(f"slapd exited: {self.process.stderr.read().decode()}")
            probe = subprocess.run(
                ["ldapsearch", "-x", "-H", self.url, "-b", "", "-s", "base", "-LLL", "1.1"],
                capture_output=True,
                check=False,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"slapd did not answer on {self.url} within {START_DEADLINE} s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def kill(self) -> None:
        """Stop slapd abruptly, as a crash or a network cut would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()

    def reset(self) -> None:
        """Back to the seeded directory: fresh database, seed LDIF loaded."""
        self.stop()
        shutil.rmtree(self.db_dir, ignore_errors=True)
        self.start()
        self._ldap("ldapadd", SEED_LDIF.read_text(encoding="utf-8"))
        self.changed = False

    def modify(self, ldif: str) -> None:
        """Apply LDIF change records (``changetype: modify|add|delete|modrdn``) as admin."""
        self.changed = True
        self._ldap("ldapmodify", ldif)

    def _ldap(self, tool: str, ldif: str) -> None:
        result = subprocess.run(
            [tool, "-x", "-H", self.url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD],
            input=ldif.encode(),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stderr.decode()}{result.stdout.decode()}")
