"""What peers may hold of the node: idle connections, too many associations, TLS refusals, all logged.

Hostile connections come from 127.0.0.2 (another loopback address) and the scanner from
127.0.0.1, as two hosts on a hospital network would.
"""

from __future__ import annotations

import select
import socket
import ssl
import subprocess

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from monai_unet2015.dicom_node import ConnectionGuard, tls_server_context
from tests.dicom_node.test_network_rules import InProcessNode, ct_series
from tests.dicom_node.test_node import send, wait_for

pytestmark = pytest.mark.slow

LOGGER = "monai_unet2015.dicom_node.connections"


def silent_connections(port: int, count: int) -> list[socket.socket]:
    """TCP connections from 127.0.0.2 that never send a byte."""
    try:
        return [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0)) for _ in range(count)]
    except OSError as error:
        pytest.skip(f"cannot connect from 127.0.0.2 here ({error})")


def closed_by_node(sockets: list[socket.socket], within: float) -> list[socket.socket]:
    """The sockets the node has closed within ``within`` seconds (end of stream or reset)."""
    readable, _, _ = select.select(sockets, [], [], within)
    closed = []
    for sock in readable:
        try:
            if sock.recv(1) == b"":
                closed.append(sock)
        except OSError:  # reset
            closed.append(sock)
    return closed


REFUSED = "refused a connection from 127.0.0.2: 4 connections from that address"
SILENT = "closed a connection from 127.0.0.2: no association request within 5 s"


def count(caplog, message: str) -> int:
    return sum(message in record.getMessage() for record in caplog.records)


def test_idle_connections_from_one_host_do_not_lock_the_scanner_out_and_are_logged(bundle, tmp_path, caplog):
    running = InProcessNode(bundle, tmp_path / "work", guard=ConnectionGuard(per_host=4, idle_timeout=5))
    try:
        with caplog.at_level("WARNING", logger=LOGGER):
            idle = silent_connections(running.port, 12)
            files = ct_series(tmp_path / "series", slices=2)
            # before: 12 silent connections filled pynetdicom's 10 and the scanner was rejected, unlogged
            assert send(files, running.port) == [0x0000, 0x0000]
            # every one ends: the fifth and later from that host when they open (logged as refused),
            # the first four after 5 s of silence (logged as closed); no timing is asserted
            wait_for(lambda: len(closed_by_node(idle, 0)) == 12, 60, "every silent connection closed by the node")
            wait_for(lambda: count(caplog, SILENT) == 4, 30, "the four silent connections' log lines")
        assert count(caplog, REFUSED) == 8 and count(caplog, SILENT) == 4
    finally:
        for sock in idle:
            sock.close()
        running.close()


def test_associations_past_the_limit_are_rejected_and_logged(bundle, tmp_path, caplog):
    running = InProcessNode(bundle, tmp_path / "work", guard=ConnectionGuard(associations=2))
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(Verification)
    try:
        with caplog.at_level("WARNING", logger="monai_unet2015.dicom_node.node"):
            held = [ae.associate("127.0.0.1", running.port, ae_title="UNET_NODE") for _ in range(2)]
            assert all(assoc.is_established for assoc in held)
            third = ae.associate("127.0.0.1", running.port, ae_title="UNET_NODE")
            assert third.is_rejected
            assert "rejected an association from SCANNER@127.0.0.1: 2 associations are open" in caplog.text
            held[0].release()
            accepted = []

            def associates_again() -> bool:  # once the node's side of the released one has ended
                assoc = ae.associate("127.0.0.1", running.port, ae_title="UNET_NODE")
                if assoc.is_established:
                    accepted.append(assoc)
                return assoc.is_established

            wait_for(associates_again, 30, "a slot freed by the release")
            accepted[0].release()
            held[1].release()
    finally:
        running.close()


def test_guard_arguments_are_checked():
    with pytest.raises(ValueError, match=r"per_host must be an int >= 1, got 0"):
        ConnectionGuard(per_host=0)
    with pytest.raises(ValueError, match=r"associations must be an int >= 1, got 2.5"):
        ConnectionGuard(associations=2.5)
    with pytest.raises(ValueError, match=r"idle_timeout must be > 0 seconds, got 0"):
        ConnectionGuard(idle_timeout=0)


# -- TLS -------------------------------------------------------------------------------------------


def openssl(*arguments: str, cwd) -> None:
    subprocess.run(["openssl", *arguments], check=True, capture_output=True, cwd=cwd)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """The node's certificate, a clients' CA, and client certificates: signed by it, by another CA, expired."""
    folder = tmp_path_factory.mktemp("tls")
    (folder / "index.txt").touch()
    (folder / "serial").write_text("01\n")
    (folder / "ca.cnf").write_text(
        "[ca]\ndefault_ca = local\n[local]\ndir = .\ndatabase = index.txt\nserial = serial\n"
        "new_certs_dir = .\ndefault_md = sha256\npolicy = anything\n[anything]\ncommonName = supplied\n"
    )
    self_signed = ("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1")
    openssl(*self_signed, "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", "node.key", "-out", "node.pem", cwd=folder)  # fmt: skip
    openssl(*self_signed, "-subj", "/CN=clients", "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)
    openssl(*self_signed, "-subj", "/CN=stranger", "-keyout", "stranger.key", "-out", "stranger.pem", cwd=folder)
    for name, dates in (("scanner", ()), ("expired", ("-startdate", "20200101000000Z", "-enddate", "20200102000000Z"))):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=folder)  # fmt: skip
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", f"{name}.csr",
                "-out", f"{name}.pem", *(dates or ("-days", "1")), cwd=folder)  # fmt: skip
    return folder


def tls_echo(port: int, certificates, client: str | None) -> bool:
    """Whether a C-ECHO over TLS with ``client``'s certificate (None: plain DICOM) gets through."""
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.connection_timeout = ae.network_timeout = 5
    tls = None
    if client is not None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "node.pem"))
        context.load_cert_chain(str(certificates / f"{client}.pem"), str(certificates / f"{client}.key"))
        tls = (context, "localhost")
    assoc = ae.associate("127.0.0.1", port, ae_title="UNET_NODE", tls_args=tls)
    if not assoc.is_established:
        return False
    ok = assoc.send_c_echo().Status == 0x0000
    assoc.release()
    return ok


def test_a_silent_client_does_not_block_tls_and_each_tls_refusal_is_logged(bundle, tmp_path, certificates, caplog):
    server = tls_server_context(certificates / "node.pem", certificates / "node.key", certificates / "ca.pem")
    running = InProcessNode(bundle, tmp_path / "work", tls=server, guard=ConnectionGuard(idle_timeout=3))
    try:
        with caplog.at_level("WARNING", logger=LOGGER):
            (silent,) = silent_connections(running.port, 1)
            # before: pynetdicom's accepting thread waited on this client's handshake; nobody got in
            assert tls_echo(running.port, certificates, "scanner")
            for client in (None, "stranger", "expired"):
                assert not tls_echo(running.port, certificates, client)
            wait_for(lambda: "127.0.0.2: TLS handshake failed" in caplog.text, 10, "the silent client's refusal")
        refusals = [r.getMessage() for r in caplog.records if "TLS handshake failed" in r.getMessage()]
        assert sum(m.startswith("refused a connection from 127.0.0.1: TLS handshake failed") for m in refusals) == 3
        assert any("certificate" in m for m in refusals)  # the stranger's and the expired one's name the reason
        silent.close()
    finally:
        running.close()


def test_the_node_still_stores_over_tls(bundle, tmp_path, certificates):
    server = tls_server_context(certificates / "node.pem", certificates / "node.key", certificates / "ca.pem")
    running = InProcessNode(bundle, tmp_path / "work", tls=server)
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certificates / "node.pem"))
        context.load_cert_chain(str(certificates / "scanner.pem"), str(certificates / "scanner.key"))
        ae = AE(ae_title="SCANNER")
        ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2")
        assoc = ae.associate("127.0.0.1", running.port, ae_title="UNET_NODE", tls_args=(context, "localhost"))
        files = ct_series(tmp_path / "series", slices=2)
        assert [assoc.send_c_store(pydicom.dcmread(p)).Status for p in files] == [0x0000, 0x0000]
        assoc.release()
    finally:
        running.close()
