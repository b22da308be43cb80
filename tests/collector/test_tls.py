"""TLS from certificate and key paths on OTLP/HTTP, OTLP/gRPC and admin, with a self-signed
certificate generated for the test; plain connections are refused."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

from heron_collector.collector import Collector

from ._otlp import logs_request, prediction
from .conftest import local_settings, query, seeded


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    result = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True)
    if result.returncode:
        pytest.fail(f"generating a test certificate needs openssl (apt-get install openssl): {result.stderr}")
    return str(cert), str(key)


def https(address: str, cert: str, method: str, path: str, body: bytes = b"", **headers: str):
    host, port = address.split(":")
    context = ssl.create_default_context(cafile=cert)
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    conn.request(method, path, body=body or None, headers=headers)
    reply = conn.getresponse()
    return reply.status, reply.read()


def test_otlp_http_grpc_and_admin_serve_tls_only(tmp_path, certificate, migrated_copy):
    cert, key = certificate
    with Collector(seeded(migrated_copy, local_settings(tmp_path, tls_cert=cert, tls_key=key,
                                                        batch_seconds=0.1))) as collector:
        body = logs_request(prediction("over-tls")).SerializeToString()
        status, _ = https(collector.http_address, cert, "POST", "/v1/logs", body,
                          **{"Content-Type": "application/x-protobuf"})
        assert status == 200
        with open(cert, "rb") as f:
            credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
        with grpc.secure_channel(collector.grpc_address, credentials) as channel:
            reply = logs_service_pb2_grpc.LogsServiceStub(channel).Export(logs_request(prediction("grpc-tls")))
        assert reply.partial_success.rejected_log_records == 0
        status, answer = https(collector.admin_address, cert, "POST", "/admin/sql",
                               json.dumps({"sql": "SELECT 1 AS one"}).encode(), **{"Content-Type": "application/json"})
        assert (status, json.loads(answer)["rows"]) == (200, [[1]])
        assert sorted(r[0] for r in query(collector, "SELECT prediction_id FROM heron.ml_predictions")) == [
            "grpc-tls", "over-tls"]
        host, port = collector.http_address.split(":")
        plain = http.client.HTTPConnection(host, int(port), timeout=10)
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            plain.request("POST", "/v1/logs", body=body, headers={"Content-Type": "application/x-protobuf"})
            plain.getresponse().read()


def test_tls_needs_both_files_readable(tmp_path, certificate):
    cert, _ = certificate
    with pytest.raises(ValueError, match="HERON_TLS_KEY"):
        Collector(local_settings(tmp_path, tls_cert=cert)).start()
    with pytest.raises(ValueError, match="not a readable file"):
        Collector(local_settings(tmp_path, tls_cert=cert, tls_key=str(tmp_path / "missing.pem"))).start()


def test_the_cli_reaches_a_tls_collector_trusting_its_certificate(tmp_path, certificate):
    import time
    import urllib.request

    from ..conftest import HERON_CLI, free_port, spawn_collector

    cert, key = certificate
    tls = {"HERON_TLS_CERT": cert, "HERON_TLS_KEY": key}
    http_port = free_port()
    process = spawn_collector(tmp_path, http_port, free_port(), **tls)
    try:
        context = ssl.create_default_context(cafile=cert)
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{http_port}/readyz", timeout=1, context=context):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the TLS collector did not start"
                time.sleep(0.2)
        env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HERON_")}
        result = subprocess.run([*HERON_CLI, "sql", "--data-dir", str(tmp_path), "SELECT 7 AS seven"],
                                capture_output=True, text=True, timeout=120, env={**env, **tls})
        assert result.returncode == 0 and result.stdout.split() == ["seven", "-----", "7"], result.stderr
    finally:
        process.terminate()
        process.wait(timeout=60)
