"""A connection given no TLS context (a DATABASE_URL) asks the server for TLS and uses it when the
server offers it, as pg8000 does, with one context per process (dataapi.db.wire.prefer_tls_context).

The server is a PostgreSQL cluster of its own with TLS on (a self-signed certificate made here);
the session's cluster, which offers no TLS, is the other case.
"""

from __future__ import annotations

import datetime
import os
import shutil
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, text

from dataapi.db import wire
from devtools.pgcluster import Cluster

pytestmark = pytest.mark.db


def _self_signed(directory: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    for filename, data in (
        ("server.crt", cert.public_bytes(serialization.Encoding.PEM)),
        (
            "server.key",
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        ),
    ):
        path = os.path.join(directory, filename)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o600)
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[Cluster]:
    cluster = Cluster.create()
    try:
        _self_signed(str(cluster.datadir))
        cluster.sql("ALTER SYSTEM SET ssl = on")
        cluster.sql("SELECT pg_reload_conf()")
        yield cluster
    finally:
        cluster.stop(remove=True)


def _tls_in_use(url: str) -> list[bool]:
    """Whether each of two connections of one engine (wire's, as the layer's) uses TLS."""
    engine = create_engine(url, pool_size=2)
    wire.install(engine)
    try:
        with engine.connect() as a, engine.connect() as b:
            query = text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            return [bool(c.execute(query).scalar_one()) for c in (a, b)]
    finally:
        engine.dispose()


def test_a_server_that_offers_tls_gets_tls_with_one_context_per_process(tls_cluster: Cluster) -> None:
    """GIVEN a server with TLS on and a URL without TLS settings
    WHEN the layer's engine opens two connections
    THEN both use TLS, with the one context of the process."""
    wire.prefer_tls_context.cache_clear()
    assert _tls_in_use(tls_cluster.url("postgres")) == [True, True]
    assert wire.prefer_tls_context.cache_info().misses == 1


def test_a_server_without_tls_is_reached_in_plain_text(pg: Cluster) -> None:
    """GIVEN the session's cluster (no TLS) WHEN the engine connects THEN it connects in plain
    text, as pg8000 does when the server declines, and builds no TLS context for it."""
    wire.prefer_tls_context.cache_clear()
    assert _tls_in_use(pg.url("postgres")) == [False, False]
    assert wire.prefer_tls_context.cache_info().misses == 0
