"""The test-suite network guard: blocked before sending, recorded even when swallowed, loopback allowed.

The blocked destinations below are documentation / broadcast addresses. Nothing is ever sent to them:
the guard raises before the operating system is asked to send.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest
from twisted.internet.defer import inlineCallbacks
from twisted.trial import unittest

from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv6Endpoint
from ipv8.test import netguard
from ipv8.test.netguard import NetGuard, NetGuardViolation

from .support import IPV6_LOOPBACK, RecordingListener, wait_until

TESTS_ROOT = Path(__file__).resolve().parents[2]

BLOCKED_V4 = [("192.0.2.1", 9), ("255.255.255.255", 9), ("0.0.0.0", 9), ("10.0.0.1", 9), ("<broadcast>", 9),
              ("example.org", 9)]
BLOCKED_V6 = [("2001:db8::1", 9), ("fe80::1%1", 9), ("ff02::1", 9), ("::ffff:192.0.2.1", 9), ("::", 9)]


@pytest.fixture
def udp4() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


@pytest.fixture
def udp6() -> Iterator[socket.socket]:
    if not IPV6_LOOPBACK:
        pytest.skip("::1 is not available")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        yield sock


def test_guard_is_active_during_tests() -> None:
    assert netguard.GUARD.installed
    assert getattr(socket.socket.sendto, "__name__", "") == "guarded"


@pytest.mark.parametrize("destination", BLOCKED_V4)
def test_raw_ipv4_sendto_is_blocked(udp4: socket.socket, destination: tuple[str, int]) -> None:
    with netguard.expect_violations() as caught, pytest.raises(NetGuardViolation):
        udp4.sendto(b"never sent", destination)
    assert [v.operation for v in caught] == ["socket.sendto"]
    assert repr(destination) == caught[0].destination


def test_raw_sendto_with_flags_and_sendmsg_are_blocked(udp4: socket.socket) -> None:
    with netguard.expect_violations() as caught:
        with pytest.raises(NetGuardViolation):
            udp4.sendto(b"x", 0, ("192.0.2.1", 9))
        with pytest.raises(NetGuardViolation):
            udp4.sendmsg([b"x"], [], 0, ("192.0.2.1", 9))
    assert [v.operation for v in caught] == ["socket.sendto", "socket.sendmsg"]


@pytest.mark.parametrize("destination", BLOCKED_V6)
def test_raw_ipv6_sendto_is_blocked(udp6: socket.socket, destination: tuple[str, int]) -> None:
    with netguard.expect_violations(), pytest.raises(NetGuardViolation):
        udp6.sendto(b"never sent", destination)


def test_connect_is_blocked_for_udp_and_tcp(udp4: socket.socket) -> None:
    with netguard.expect_violations() as caught:
        with pytest.raises(NetGuardViolation):
            udp4.connect(("192.0.2.1", 80))  # the classic "find my LAN address" trick
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            with pytest.raises(NetGuardViolation):
                tcp.connect_ex(("192.0.2.1", 80))
    assert [v.operation for v in caught] == ["socket.connect", "socket.connect_ex"]


def test_name_resolution_of_outside_names_is_blocked() -> None:
    with netguard.expect_violations() as caught:
        for lookup in (lambda: socket.getaddrinfo("example.org", 80),
                       lambda: socket.gethostbyname("example.org"),
                       lambda: socket.gethostbyname_ex("example.org"),
                       lambda: socket.gethostbyaddr("192.0.2.1"),
                       lambda: socket.getnameinfo(("192.0.2.1", 80), 0)):
            with pytest.raises(NetGuardViolation):
                lookup()
    assert len(caught) == 5


def test_local_names_and_literals_may_be_resolved() -> None:
    assert socket.getaddrinfo("localhost", 80, type=socket.SOCK_DGRAM)
    assert socket.getaddrinfo("192.0.2.1", 80, type=socket.SOCK_DGRAM)  # a literal is parsed, not looked up
    assert socket.getaddrinfo(None, 80, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    assert socket.getnameinfo(("192.0.2.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
    assert socket.gethostbyname("127.0.0.1") == "127.0.0.1"


def test_loopback_traffic_passes(udp4: socket.socket) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(1)
        udp4.sendto(b"ping", receiver.getsockname())
        udp4.sendto(b"name", ("localhost", receiver.getsockname()[1]))
        assert receiver.recvfrom(100)[0] == b"ping"
        assert receiver.recvfrom(100)[0] == b"name"
        udp4.connect(("127.0.0.2", receiver.getsockname()[1]))
    assert netguard.violations() == []


def test_ipv6_loopback_passes(udp6: socket.socket) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("::1", 0))
        receiver.settimeout(1)
        udp6.sendto(b"ping6", receiver.getsockname())
        assert receiver.recvfrom(100)[0] == b"ping6"


def test_allow_widens_temporarily(udp4: socket.socket) -> None:
    with netguard.allow("198.51.100.0/24", "2001:db8::/32"):
        assert netguard.is_allowed_host("198.51.100.7")
        assert netguard.is_allowed_host("2001:db8::1")
        with netguard.allow("198.51.100.0/24"):  # nesting the same network is fine
            pass
        assert netguard.is_allowed_host("198.51.100.7")
    assert not netguard.is_allowed_host("198.51.100.7")
    assert not netguard.is_allowed_host("2001:db8::1")
    with pytest.raises(ValueError):
        with netguard.allow("not a network"):
            pass


def test_swallowed_violation_is_still_recorded(udp4: socket.socket) -> None:
    with netguard.expect_violations() as caught:
        try:
            udp4.sendto(b"x", ("192.0.2.1", 9))
        except Exception:  # noqa: BLE001, S110 - this is what careless library code does
            pass
    assert len(caught) == 1
    assert "test_swallowed_violation_is_still_recorded" in caught[0].stack


def test_expect_violations_complains_when_nothing_was_blocked() -> None:
    with pytest.raises(AssertionError, match="nothing was blocked"):
        with netguard.expect_violations():
            pass


def test_guard_blocks_before_the_socket_is_used(monkeypatch: pytest.MonkeyPatch, udp4: socket.socket) -> None:
    """A spy in place of the real sendto proves the blocked datagram never reaches the socket layer."""
    reached: list[Any] = []
    monkeypatch.setattr(socket.socket, "sendto", lambda sock, *args: reached.append(args))
    fresh = NetGuard()
    fresh.install()
    try:
        with pytest.raises(NetGuardViolation):
            udp4.sendto(b"x", ("192.0.2.1", 9))
        assert reached == []
        udp4.sendto(b"x", ("127.0.0.1", 9))
        assert reached == [(b"x", ("127.0.0.1", 9))]
        assert len(fresh.take_violations()) == 1
    finally:
        fresh.uninstall()
    assert not fresh.installed


def test_uninstall_restores_the_originals() -> None:
    fresh = NetGuard()
    before = (socket.socket.sendto, socket.getaddrinfo)
    fresh.install()
    fresh.install()  # idempotent
    assert socket.socket.sendto is not before[0]
    fresh.uninstall()
    assert (socket.socket.sendto, socket.getaddrinfo) == before


def test_a_test_that_swallows_a_violation_fails(tmp_path: Path) -> None:
    """Run pytest on a throwaway test with the suite's conftest: the swallowed attempt must fail it."""
    shutil.copy(TESTS_ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sneaky.py").write_text(textwrap.dedent("""
        import socket

        def test_sneaky():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                try:
                    sock.sendto(b"x", ("192.0.2.1", 9))
                except Exception:
                    pass

        def test_clean():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(b"x", ("127.0.0.1", 9))
    """))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert "test_sneaky" in run.stdout and "192.0.2.1" in run.stdout


@pytest.mark.parametrize(("destination", "status"), [("127.0.0.1", 0), ("192.0.2.1", 3)])
def test_command_line_runner(tmp_path: Path, destination: str, status: int) -> None:
    script = tmp_path / "demo.py"
    script.write_text(textwrap.dedent(f"""
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(b"x", ("{destination}", 9))
            except AssertionError:
                pass
        print("done")
    """))
    run = subprocess.run([sys.executable, "-m", "ipv8.test.netguard", str(script)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert (run.returncode, run.stdout) == (status, "done\n"), run.stderr
    assert ("192.0.2.1" in run.stderr) is (status == 3)


class TestGuardWithTwisted(unittest.TestCase):

    timeout = 5

    @inlineCallbacks
    def test_endpoint_send_outside_loopback_raises(self) -> Any:  # noqa: ANN401
        endpoint = UDPEndpoint(ip="127.0.0.1")
        self.addCleanup(endpoint.close)
        yield endpoint.open()
        with netguard.expect_violations() as caught:
            for destination in (("192.0.2.1", 9), ("255.255.255.255", 9)):
                with self.assertRaises(NetGuardViolation):
                    endpoint.send(destination, b"never sent")
        # The endpoint writes to its socket directly (Twisted's write would re-check the IP on every datagram).
        self.assertEqual({v.operation for v in caught}, {"socket.sendto"})
        self.assertEqual(endpoint.packets_sent, 0)

    @inlineCallbacks
    def test_ipv6_endpoint_send_outside_loopback_raises(self) -> Any:  # noqa: ANN401
        if not IPV6_LOOPBACK:
            self.skipTest("::1 is not available")
        endpoint = UDPv6Endpoint(ip="::1")
        self.addCleanup(endpoint.close)
        yield endpoint.open()
        with netguard.expect_violations(), self.assertRaises(NetGuardViolation):
            endpoint.send(("2001:db8::1", 9), b"never sent")

    @inlineCallbacks
    def test_twisted_port_connect_and_broadcast_are_blocked(self) -> Any:  # noqa: ANN401
        endpoint = UDPEndpoint(ip="127.0.0.1")
        self.addCleanup(endpoint.close)
        yield endpoint.open()
        with netguard.expect_violations() as caught:
            with self.assertRaises(NetGuardViolation):
                endpoint.transport.write(b"x", ("<broadcast>", 9))
            with self.assertRaises(NetGuardViolation):
                endpoint.transport.connect("192.0.2.1", 9)
        self.assertEqual([v.operation for v in caught], ["twisted udp.Port.write", "twisted udp.Port.connect"])

    @inlineCallbacks
    def test_loopback_endpoint_traffic_passes(self) -> Any:  # noqa: ANN401
        sender, receiver = UDPEndpoint(ip="127.0.0.1"), UDPEndpoint(ip="0.0.0.0")
        for endpoint in (sender, receiver):
            self.addCleanup(endpoint.close)
            yield endpoint.open()
        listener = RecordingListener(receiver)
        receiver.add_listener(listener)
        sender.send(("127.0.0.1", receiver.get_address()[1]), b"local")
        yield wait_until(lambda: listener.payloads == [b"local"])
        self.assertEqual(netguard.violations(), [])
