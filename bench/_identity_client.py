"""The client side of ``bench/identity.py``: the documentation's two identity flows over HTTP, timed.

Standard library only (it never imports ``ipv8``), so the same code drives txipv8's services and pyipv8's: it
runs in the benchmark's own process, while each implementation's two services run in a process of their own.
Every step is a plain HTTP/1.1 request on a kept-alive connection; a step that waits for the other peer polls
its route every :data:`POLL_INTERVAL` seconds, as a program following the documentation would.
"""
from __future__ import annotations

import http.client
import json
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

#: Seconds between two polls of a route that waits for the other peer (it bounds the timing error per wait).
POLL_INTERVAL = 0.005
#: Seconds a waiting step may take before the round counts as failed.
STEP_TIMEOUT = 60.0
VALUE_B64 = "dmFsdWU="  # b"value", as in the documentation
#: Plain ``GET .../peers`` requests timed per round: the cost of one REST round trip on its own.
REQUESTS_PER_ROUND = 20


class FlowError(RuntimeError):
    """A route answered something the documented flow does not allow."""


class Service:
    """One service's REST API, reached over one kept-alive HTTP connection."""

    def __init__(self, url: str, name: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.name = name  # the pseudonym this service uses
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; return the decoded JSON answer (:class:`FlowError` for a non-200 status)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {} if data is None else {"Content-Type": "application/json"}
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile is reopened once
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=STEP_TIMEOUT)
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                answer = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        if response.status != 200:
            raise FlowError(f"{method} {path}: {response.status} {answer[:200]!r}")
        return json.loads(answer)

    def get(self, route: str) -> Any:
        """``GET /identity/<our pseudonym>/<route>``."""
        return self.request("GET", f"/identity/{self.name}/{route}")

    def put(self, route: str, key: str, body: dict[str, Any]) -> Any:
        """``PUT /identity/<our pseudonym>/<route>/<percent-encoded key>``."""
        return self.request("PUT", f"/identity/{self.name}/{route}/{quote(key, safe='')}", body)

    def poll(self, route: str, done: Callable[[Any], bool]) -> Any:
        """``get(route)`` until ``done(answer)`` holds; return that answer."""
        deadline = time.perf_counter() + STEP_TIMEOUT
        while True:
            answer = self.get(route)
            if done(answer):
                return answer
            if time.perf_counter() > deadline:
                raise FlowError(f"GET {route} of {self.name}: still {answer!r} after {STEP_TIMEOUT} s")
            time.sleep(POLL_INTERVAL)

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def meet(owner: Service, authority: Service) -> tuple[str, str, float]:
    """Load both pseudonyms (their public keys) and wait until each lists the other; returns both keys, seconds."""
    started = time.perf_counter()
    owner_key = owner.get("public_key")["public_key"]
    authority_key = authority.get("public_key")["public_key"]
    owner.poll("peers", lambda answer: authority_key in answer["peers"])
    authority.poll("peers", lambda answer: owner_key in answer["peers"])
    return owner_key, authority_key, time.perf_counter() - started


def enrollment(owner: Service, authority: Service, owner_key: str, authority_key: str,
               attribute: str) -> tuple[float, str]:
    """The enrollment flow for ``attribute``, from the request until the owner's credential is signed.

    :returns: the seconds it took and the credential's hash.
    """
    started = time.perf_counter()
    answer = owner.put("request", authority_key, {"name": attribute, "schema": "id_metadata", "metadata": {}})
    if answer != {"success": True}:
        raise FlowError(f"request: {answer!r}")
    authority.poll("outstanding/attestations",
                   lambda a: any(r["attribute_name"] == attribute and r["peer"] == owner_key for r in a["requests"]))
    answer = authority.put("attest", owner_key, {"name": attribute, "value": VALUE_B64})
    if answer != {"success": True}:
        raise FlowError(f"attest: {answer!r}")
    credentials = owner.poll("credentials", lambda a: any(c["name"] == attribute and authority_key in c["attesters"]
                                                           for c in a["names"]))
    elapsed = time.perf_counter() - started
    [attribute_hash] = [c["hash"] for c in credentials["names"] if c["name"] == attribute]
    return elapsed, attribute_hash


def verification(owner: Service, verifier: Service, owner_key: str, verifier_key: str, attribute: str,
                 attribute_hash: str) -> float:
    """The verification flow of ``attribute_hash``, from the verifier's request until its result is in."""
    started = time.perf_counter()
    answer = verifier.put("verify", owner_key, {"hash": attribute_hash, "value": VALUE_B64, "schema": "id_metadata"})
    if answer != {"success": True}:
        raise FlowError(f"verify: {answer!r}")
    owner.poll("outstanding/verifications",
               lambda a: any(r["attribute_name"] == attribute and r["peer"] == verifier_key for r in a["requests"]))
    answer = owner.put("allow", verifier_key, {"name": attribute})
    if answer != {"success": True}:
        raise FlowError(f"allow: {answer!r}")
    outputs = verifier.poll("verifications", lambda a: any(o["hash"] == attribute_hash for o in a["outputs"]))
    elapsed = time.perf_counter() - started
    [match] = [o["match"] for o in outputs["outputs"] if o["hash"] == attribute_hash]
    if match < 0.99:
        raise FlowError(f"the attested value did not verify: match {match}")
    return elapsed


class Pair:
    """The two services of one implementation, with the keys of their pseudonyms once they met."""

    def __init__(self, urls: list[str]) -> None:
        self.owner = Service(urls[0], "pseudonym1")
        self.authority = Service(urls[1], "pseudonym2")
        self.keys: tuple[str, str] | None = None
        self.samples: dict[str, list[float]] = {"enrollment": [], "verification": [], "request": []}
        self.meet_seconds: float | None = None
        self.rounds = 0

    def setup(self) -> None:
        """Load the pseudonyms and wait until they met (timed once: it is mostly the walker's pace)."""
        owner_key, authority_key, seconds = meet(self.owner, self.authority)
        self.keys, self.meet_seconds = (owner_key, authority_key), seconds

    def round(self, record: bool = True) -> None:
        """Both flows once, for a fresh attribute (the first, warm-up round is not recorded)."""
        assert self.keys is not None
        owner_key, authority_key = self.keys
        attribute = f"attribute_{self.rounds}"
        self.rounds += 1
        enrolled, attribute_hash = enrollment(self.owner, self.authority, owner_key, authority_key, attribute)
        verified = verification(self.owner, self.authority, owner_key, authority_key, attribute, attribute_hash)
        requests = []
        for _ in range(REQUESTS_PER_ROUND):
            started = time.perf_counter()
            self.owner.get("peers")
            requests.append(time.perf_counter() - started)
        if record:
            self.samples["enrollment"].append(enrolled)
            self.samples["verification"].append(verified)
            self.samples["request"].extend(requests)

    def result(self) -> dict[str, float]:
        """Medians in milliseconds (meeting: seconds, once)."""
        result = {name: statistics.median(values) * 1000 for name, values in self.samples.items() if values}
        if self.meet_seconds is not None:
            result["meet"] = self.meet_seconds
        return result

    def close(self) -> None:
        self.owner.close()
        self.authority.close()
