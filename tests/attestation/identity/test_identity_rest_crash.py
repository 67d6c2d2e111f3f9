"""SIGKILL during an attestation, at the REST level: the owner's service restarts with a consistent database.

The owner is a real txipv8 service in a subprocess (``rest_service_node.py``: IPv8 plus its REST API, state in one
working directory); the authority is a txipv8 service in this process; both pseudonym overlays bootstrap from a
tracker on 127.0.0.1. The owner asks for an attestation over REST (the documentation's enrollment flow) and is
killed with SIGKILL at a different moment each round:

1. once the authority lists the request as outstanding (nothing attested yet);
2. right after the authority's ``attest`` call returned (the zero-knowledge attestation is on its way);
3. as soon as the authority's attestation overlay finished (the owner is storing the attestation and asking the
   authority to sign the credential);
4. once the owner's REST API shows the signed credential.

After each kill the database left on disk is read directly: every token has its metadata and vice versa, the
chain verifies back to its root, every attestation belongs to a stored credential and every wallet row holds a
readable attestation. Then the service restarts from the same working directory: the same pseudonym (same key)
is listed, its routes answer, and every credential the REST API showed before the kill is still there.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.trial import unittest

from ipv8 import configuration
from ipv8.attestation.identity.manager import IdentityManager
from ipv8.configuration import ConfigBuilder
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.REST.rest_manager import RESTManager
from ipv8.service import IPv8
from ipv8.tracker import TrackerService

from ...REST.support import HTTPClient

NODE = Path(__file__).with_name("rest_service_node.py")
REPO_ROOT = Path(__file__).resolve().parents[3]
API_KEY = "crash-test-key"
VALUE_B64 = "dmFsdWU="
KILL_POINTS = ("requested", "attested", "wallet-done", "signed")


class ServiceProcess(ProcessProtocol):
    """The owner's service: ``started`` fires with its REST port, ``ended`` when the process is gone."""

    def __init__(self) -> None:
        self.started: Deferred = Deferred()
        self.ended: Deferred = Deferred()
        self.output = b""
        self.errors = b""

    def outReceived(self, data: bytes) -> None:
        self.output += data
        if not self.started.called and b"\n" in self.output:
            self.started.callback(json.loads(self.output.split(b"\n", 1)[0])["rest_port"])

    def errReceived(self, data: bytes) -> None:
        self.errors = (self.errors + data)[-4000:]

    def processEnded(self, reason: Any) -> None:
        if not self.started.called:
            self.started.errback(AssertionError(f"the service exited before it started:\n{self.errors.decode()}"))
        self.ended.callback(getattr(reason.value, "signal", None))

    def kill(self) -> Deferred:
        try:
            self.transport.signalProcess(signal.SIGKILL)
        except ProcessExitedAlready:
            pass
        return self.ended


class Client:
    """The REST API of one service, with the API key."""

    def __init__(self, url: str) -> None:
        self.http = HTTPClient(url)

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        result = await self.http.request(method, path, body, headers={"X-Api-Key": API_KEY})
        assert result.status == status, (method, path, result.status, result.body[:300])
        return result.json


async def until(condition: Any, timeout: float, what: str) -> Any:
    """Await ``condition()`` (a coroutine function) every 20 ms until it is truthy; its value."""
    end = reactor.seconds() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if reactor.seconds() > end:
            raise AssertionError(f"{what} not seen within {timeout} s")
        await deferLater(reactor, 0.02, lambda: None)


def check_database(directory: Path) -> list[str]:
    """The invariants of the owner's state on disk; returns the base64-free hex hashes of its credentials."""
    key = default_eccrypto.key_from_private_bin((directory / "pseudonyms" / "pseudonym1").read_bytes())
    manager = IdentityManager(str(directory / "sqlite" / "identity.db"))
    try:
        pseudonym = manager.get_pseudonym(key)
        tokens = pseudonym.tree.elements
        metadata = manager.database.get_metadata_for(key.pub())
        assert set(tokens) == {m.token_pointer for m in metadata}, "a token without metadata or the reverse"
        assert all(pseudonym.tree.verify(token, -1) for token in tokens.values()), "a token off the chain"
        hashes = {m.get_hash() for m in metadata}
        for attestation in manager.database.get_attestations_for(key.pub()):
            assert attestation.metadata_pointer in hashes, "an attestation of an unknown credential"
            assert manager.database.get_authority(attestation), "an attestation without its authority"
        credentials = pseudonym.get_credentials()
        assert len(credentials) == len(metadata)
        found = [tokens[c.metadata.token_pointer].content_hash.hex() for c in credentials]
    finally:
        manager.close()
    wallet = directory / "sqlite" / "attestations.db"
    if wallet.exists():
        connection = sqlite3.connect(str(wallet))
        try:
            for row_hash, blob, secret, id_format in connection.execute(
                    "SELECT hash, blob, key, id_format FROM attestations"):
                assert len(row_hash) == 20 and blob and secret and id_format, "a half-written wallet row"
        finally:
            connection.close()
    return found


class TestSigkillDuringAttestation(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        saved = dict(configuration.DISPERSY_BOOTSTRAPPER["init"])
        self.addCleanup(configuration.DISPERSY_BOOTSTRAPPER["init"].update, saved)
        self.tracker = TrackerService(0, "127.0.0.1")
        self.tracker.startService()
        self.addCleanup(self.tracker.stopService)
        configuration.DISPERSY_BOOTSTRAPPER["init"].update(ip_addresses=[self.tracker.get_address()],
                                                           dns_addresses=[])

    async def start_authority(self) -> tuple[Client, Any]:
        directory = self.mktemp()
        os.makedirs(directory)
        config = (ConfigBuilder().clear_keys().clear_overlays().add_ephemeral_key("anonymous id")
                  .set_address("127.0.0.1").set_port(0).set_working_directory(directory).set_walker_interval(0.1)
                  .finalize())
        ipv8 = IPv8(config)
        await ipv8.start()
        self.addCleanup(ipv8.stop)
        manager = RESTManager(ipv8)
        await manager.start(0, "127.0.0.1", api_key=API_KEY)
        identity = manager.root_endpoint.child_endpoint("identity")

        async def stop() -> None:
            await manager.stop()
            await identity.stopping
        self.addCleanup(stop)
        return Client(manager.url), identity

    async def start_owner(self, directory: Path) -> tuple[ServiceProcess, Client]:
        process = ServiceProcess()
        host, port = self.tracker.get_address()
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        reactor.spawnProcess(process, sys.executable,
                             [sys.executable, str(NODE), str(directory), host, str(port), API_KEY],
                             env=env, path=str(REPO_ROOT))
        self.addCleanup(process.kill)
        rest_port = await process.started
        return process, Client(f"http://127.0.0.1:{rest_port}")

    async def crash_round(self, directory: Path, number: int, point: str, authority: Client, channel2: Any,
                          keys: dict[str, str], shown: set[str]) -> None:
        """Restart the owner, check what it kept, start an attestation and kill the owner at ``point``."""
        process, owner = await self.start_owner(directory)
        # After a restart: the same pseudonym, its signed credentials, and every route answers.
        names = (await owner.call("GET", "/identity"))["names"]
        assert names == (["pseudonym1"] if "owner" in keys else []), names
        public_key = (await owner.call("GET", "/identity/pseudonym1/public_key"))["public_key"]
        key1 = keys.setdefault("owner", public_key)
        key2 = keys["authority"]
        assert public_key == key1
        credentials = (await owner.call("GET", "/identity/pseudonym1/credentials"))["names"]
        assert shown <= {c["hash"] for c in credentials if c["attesters"] == [key2]}, (shown, credentials)
        for route in ("schemas", "outstanding/attestations", "outstanding/verifications", "verifications"):
            await owner.call("GET", f"/identity/pseudonym1/{route}")

        async def met() -> bool:
            peers1 = (await owner.call("GET", "/identity/pseudonym1/peers"))["peers"]
            peers2 = (await authority.call("GET", "/identity/pseudonym2/peers"))["peers"]
            return key2 in peers1 and key1 in peers2
        await until(met, 10.0, "the pseudonyms meeting")

        # The restarted owner's request must reach the authority, which heard the same key from another port
        # before (the pseudonym's clock continues where it stopped, so this is no replay).
        name = f"attribute{number}"
        answer = await owner.call("PUT", f"/identity/pseudonym1/request/{quote(key2, safe='')}",
                                  {"name": name, "schema": "id_metadata", "metadata": {}})
        assert answer == {"success": True}

        async def outstanding() -> bool:
            requests = (await authority.call("GET", "/identity/pseudonym2/outstanding/attestations"))["requests"]
            return any(r["attribute_name"] == name and r["peer"] == key1 for r in requests)
        await until(outstanding, 10.0, "the attestation request")
        if point != "requested":
            answer = await authority.call("PUT", f"/identity/pseudonym2/attest/{quote(key1, safe='')}",
                                          {"name": name, "value": VALUE_B64})
            assert answer == {"success": True}
        if point == "wallet-done":
            async def wallet_done() -> bool:
                return any(known.name == name for known in channel2.identity_overlay.known_attestation_hashes.values())
            await until(wallet_done, 10.0, "the authority's end of the attestation")
        elif point == "signed":
            async def signed() -> list:
                names = (await owner.call("GET", "/identity/pseudonym1/credentials"))["names"]
                return [c["hash"] for c in names if c["name"] == name and c["attesters"] == [key2]]
            shown.update(await until(signed, 10.0, "the signed credential"))
        assert await process.kill() == signal.SIGKILL
        check_database(directory)

    async def test_sigkill_at_four_moments(self) -> None:
        authority, identity = await self.start_authority()
        keys = {"authority": (await authority.call("GET", "/identity/pseudonym2/public_key"))["public_key"]}
        channel2 = identity.service.manager().name_to_channel["pseudonym2"]
        directory = Path(self.mktemp()).resolve()
        directory.mkdir(parents=True)
        shown: set[str] = set()  # credential hashes (base64) the owner's REST API showed as signed
        for number, point in enumerate(KILL_POINTS):
            await self.crash_round(directory, number, point, authority, channel2, keys, shown)

        process, owner = await self.start_owner(directory)
        assert (await owner.call("GET", "/identity")) == {"names": ["pseudonym1"]}
        credentials = (await owner.call("GET", "/identity/pseudonym1/credentials"))["names"]
        assert shown and shown <= {c["hash"] for c in credentials if c["attesters"] == [keys["authority"]]}, \
            credentials
        assert len(check_database(directory)) == len(credentials)
        await process.kill()
