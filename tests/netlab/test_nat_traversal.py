"""
NAT traversal of txipv8 nodes in a network-namespace lab (see :mod:`tests.netlab.lab` for the topology).

Each test runs a real tracker (``twistd -n tracker``) on the lab "internet" and a real IPv8 node
(:mod:`tests.netlab.node`) behind each of two NAT routers, then checks what the nodes report (and, as extra
evidence, the routers' conntrack tables and firewall counters). ``RESULTS.md`` in this directory describes what
the scenarios showed.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from .lab import SITES, TRACKER_IP, TRACKER_PORT, LabProcess, NetLab, have_conntrack_tool, missing_prerequisites

pytestmark = [pytest.mark.netlab,
              pytest.mark.skipif(missing_prerequisites() is not None, reason=str(missing_prerequisites()))]

TRACKER = f"{TRACKER_IP}:{TRACKER_PORT}"
#: Messages every node sends each peer it discovers.
MESSAGES = 10


def other(site: str) -> str:
    """The other site."""
    return "B" if site == "A" else "A"


def wan_ip(site: str) -> str:
    """The public (WAN) address of a site's router."""
    return SITES[site][0]


def start_nodes(lab: NetLab, *options: str, options_a: tuple[str, ...] = (),
                options_b: tuple[str, ...] = ()) -> dict[str, LabProcess]:
    """Start the tracker, then a node on each host (in parallel); returns them by site once both are ready."""
    lab.start_tracker()
    nodes = {"A": lab.start_node("A", *options, *options_a, wait=None),
             "B": lab.start_node("B", *options, *options_b, wait=None)}
    for node in nodes.values():
        lab.wait_ready(node)
    return nodes


def mid_of(node: LabProcess) -> str:
    """A node's member id."""
    ready = node.first("ready")
    assert ready is not None
    return ready["mid"]


def public_address(node: LabProcess, lab: NetLab, timeout: float = 5.0) -> str:
    """The address the tracker saw the node's packets come from (``ip:port``)."""
    event = node.wait_event("public_address", timeout)
    assert event is not None, f"{node.name} never learned its public address\n{lab.describe()}"
    return event["address"]


def wait_for_peer(node: LabProcess, peer: LabProcess, lab: NetLab, timeout: float) -> dict[str, Any]:
    """The event in which ``node`` verified ``peer``."""
    event = node.wait_event("peer", timeout, mid=mid_of(peer))
    assert event is not None, f"{node.name} did not verify {peer.name} within {timeout} s\n{lab.describe()}"
    return event


def messages_from(node: LabProcess, sender: LabProcess) -> list[dict[str, Any]]:
    """The LabMessages ``node`` received from ``sender``."""
    return node.of_kind("message", from_mid=mid_of(sender))


def wait_for_messages(node: LabProcess, sender: LabProcess, count: int, timeout: float) -> list[dict[str, Any]]:
    """Wait until ``node`` has ``count`` messages from ``sender`` (or the timeout passed); returns them."""
    node.wait_for(lambda _: len(messages_from(node, sender)) >= count, timeout)
    return messages_from(node, sender)


def conntrack_flows(lab: NetLab, site: str, remote_ip: str) -> list[Any] | None:
    """The UDP flows from the site's host to ``remote_ip`` in its router's conntrack table (None: no tool)."""
    entries = lab.conntrack(f"nat{site}")
    if entries is None:
        return None
    return [entry for entry in entries if entry.original[0] == SITES[site][2] and entry.original[1] == remote_ip]


# -- 1: two port-preserving NATs ------------------------------------------------------------------------------

def test_two_default_nats_punch_and_exchange_direct_messages(make_lab: Any) -> None:
    """Both nodes behind default MASQUERADE: the tracker introduces them, punctures open both NATs, and
    signed messages flow directly between the two public addresses within 2 s of discovery."""
    lab = make_lab("masq", "masq")
    nodes = start_nodes(lab, "--auto-send", str(MESSAGES))
    public = {site: public_address(node, lab) for site, node in nodes.items()}
    for site in "AB":
        # The tracker saw each node at its router's WAN address; MASQUERADE kept the node's own port.
        ready = nodes[site].first("ready")
        assert public[site] == f"{wan_ip(site)}:{ready['port']}"

    peer_events = {site: wait_for_peer(nodes[site], nodes[other(site)], lab, timeout=10.0) for site in "AB"}
    discovered_at = min(event["t"] for event in peer_events.values())
    for site in "AB":
        # The peer is known under the other NAT's public mapping, not via the tracker.
        assert peer_events[site]["address"] == public[other(site)], lab.describe()

    for site in "AB":
        receiver, sender = nodes[site], nodes[other(site)]
        received = wait_for_messages(receiver, sender, MESSAGES, timeout=2.0)
        assert len(received) == MESSAGES, f"{site} got {len(received)}/{MESSAGES} messages\n{lab.describe()}"
        assert sorted(message["seq"] for message in received) == list(range(MESSAGES))
        assert {message["source"] for message in received} == {public[other(site)]}
        assert all(not message["source"].startswith(TRACKER_IP + ":") for message in received)
        assert max(message["t"] for message in received) - discovered_at <= 2.0, lab.describe()

    # Evidence from the routers: each has a two-way flow (not UNREPLIED) between the two public mappings. (It
    # is not ASSURED yet: this kernel only assures a UDP flow after 2 s of two-way traffic.)
    for site in "AB":
        flows = conntrack_flows(lab, site, wan_ip(other(site)))
        if flows is None:
            continue
        peer_port = int(public[other(site)].rsplit(":", 1)[1])
        assert any(flow.original[3] == peer_port and "UNREPLIED" not in flow.flags for flow in flows), flows


# -- 2: one symmetric NAT ---------------------------------------------------------------------------------------

def test_symmetric_nat_defeats_punching_and_it_shows(make_lab: Any) -> None:
    """natB maps every destination to a fresh random port (``--random-fully``). The tracker introduces the
    nodes to each other under natB's tracker mapping, which is useless for A: neither node ever verifies
    the other, the introduced addresses stay unverified walkable addresses, and no message arrives."""
    lab = make_lab("masq", "random-fully")
    nodes = start_nodes(lab, "--auto-send", str(MESSAGES))
    started = time.time()
    public = {site: public_address(node, lab) for site, node in nodes.items()}

    # Discovery through the tracker works: each node is told the other's public address (as the tracker saw it).
    for site in "AB":
        introduced = nodes[site].wait_event("walkable", 5.0, address=public[other(site)])
        assert introduced is not None, f"the tracker never introduced {other(site)} to {site}\n{lab.describe()}"

    # Punching does not: watch for 6 s.
    time.sleep(max(0.0, started + 6.0 - time.time()))
    for site in "AB":
        node, peer = nodes[site], nodes[other(site)]
        assert node.of_kind("peer", mid=mid_of(peer)) == [], f"{site} verified {other(site)}\n{lab.describe()}"
        assert messages_from(node, peer) == []
        # Not a single packet of the other node got through its NAT, not even a puncture.
        from_peer = [event for event in node.of_kind("rx") if event["source"].startswith(wan_ip(other(site)) + ":")]
        assert from_peer == [], f"{site} received {from_peer}"
        # ... although the tracker kept asking it to puncture towards the other node.
        assert node.of_kind("rx", kind="puncture-request", source=TRACKER)

    # Why, from natB's table: its mapping towards A uses another public port than its mapping towards the
    # tracker (the one A was told about), and A's packets to the told port match no flow.
    flows_to_a = conntrack_flows(lab, "B", wan_ip("A"))
    flows_to_tracker = conntrack_flows(lab, "B", TRACKER_IP)
    if flows_to_a is not None and flows_to_tracker is not None:
        told_port = int(public["B"].rsplit(":", 1)[1])
        assert [flow.public_port for flow in flows_to_tracker] == [told_port]
        assert flows_to_a, "B never even tried to reach A"
        assert all(flow.public_port != told_port and "UNREPLIED" in flow.flags for flow in flows_to_a), flows_to_a


# -- 3: random loss ---------------------------------------------------------------------------------------------

def test_discovery_and_messages_survive_ten_percent_loss_on_both_routers(make_lab: Any) -> None:
    """10 % of all forwarded packets dropped at each router (both directions): walking simply retries, so
    discovery still converges and most messages arrive, directly."""
    lab = make_lab("masq", "masq")
    for router in ("natA", "natB"):
        lab.add_random_loss(router, 0.1)
    messages = 20
    nodes = start_nodes(lab, "--auto-send", str(messages))
    public = {site: public_address(node, lab, timeout=10.0) for site, node in nodes.items()}
    discovered_at = min(wait_for_peer(nodes[site], nodes[other(site)], lab, timeout=15.0)["t"] for site in "AB")
    time.sleep(max(0.0, discovered_at + 2.0 - time.time()))
    for site in "AB":
        received = messages_from(nodes[site], nodes[other(site)])
        # Each message crosses both routers, so about 81 % should arrive; 8 of 20 is far below that.
        assert len(received) >= 8, f"{site} got {len(received)}/{messages}\n{lab.describe()}"
        assert {message["source"] for message in received} == {public[other(site)]}
    dropped = sum(packets for router in ("natA", "natB")
                  for packets, rule in lab.rule_packet_counts(router, "FORWARD") if "statistic" in rule)
    assert dropped > 0, "the loss rules never dropped anything: the scenario did not test loss"


# -- 4: short NAT UDP timeout -----------------------------------------------------------------------------------

UDP_TIMEOUT_KEYS = ("net.netfilter.nf_conntrack_udp_timeout", "net.netfilter.nf_conntrack_udp_timeout_stream")


def shorten_udp_timeouts(lab: NetLab, seconds: int) -> None:
    """Make natA forget idle UDP mappings after ``seconds``; check that it really is natA's own setting."""
    defaults = {key: lab.sysctl_get("natA", key) for key in UDP_TIMEOUT_KEYS}
    for key in UDP_TIMEOUT_KEYS:
        lab.sysctl_set("natA", key, str(seconds))
        assert lab.sysctl_get("natA", key) == str(seconds)
        assert lab.sysctl_get("natB", key) == defaults[key], "conntrack timeouts are not per namespace here"


def test_walk_traffic_keeps_a_short_lived_nat_mapping_open(make_lab: Any) -> None:
    """natA forgets idle UDP flows after 3 s. With the default walker settings (RandomWalk every 0.5 s while
    below 20 peers) the nodes keep sending each other introduction requests, so the mapping never idles:
    natA keeps one and the same flow for 10 s, the peers are never dropped, and messages sent at the end
    still arrive directly at the original public addresses."""
    lab = make_lab("masq", "masq")
    shorten_udp_timeouts(lab, 3)
    nodes = start_nodes(lab)
    public = {site: public_address(node, lab) for site, node in nodes.items()}
    for site in "AB":
        wait_for_peer(nodes[site], nodes[other(site)], lab, timeout=10.0)

    watch_start = time.time()
    samples = []
    if have_conntrack_tool():
        samples = watch_flow(lab, 10.0, interval=0.5)
    else:
        time.sleep(10.0)
    watch_end = time.time()
    for _, flow in samples:
        assert flow is not None, f"natA lost the flow to B: {samples}"
        assert flow.timeout <= 3, "the short timeout does not apply to this flow"
    if samples:
        # One flow all along: its birth time (sample time - age, ages are whole seconds) never moves, although
        # it lives more than three times as long as its idle timeout.
        births = [sampled_at - flow.age for sampled_at, flow in samples]
        assert max(births) - min(births) < 1.5, samples
        assert samples[-1][1].age >= 9

    # What kept it alive: packets from A reached B at least every 3 s during the whole window.
    arrivals = [event["t"] for event in nodes["B"].of_kind("rx")
                if event["source"] == public["A"] and watch_start - 3.0 <= event["t"] <= watch_end]
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert arrivals and arrivals[0] <= watch_start and arrivals[-1] >= watch_end - 3.0, lab.describe()
    assert max(gaps) < 3.0, f"A was silent towards B for {max(gaps):.1f} s"

    for node in nodes.values():
        node.command(f"send {MESSAGES}")
    for site in "AB":
        node, peer = nodes[site], nodes[other(site)]
        received = wait_for_messages(node, peer, MESSAGES, timeout=3.0)
        assert len(received) == MESSAGES and {m["source"] for m in received} == {public[other(site)]}
        assert node.of_kind("peer_lost") == []


def test_quiet_peers_lose_a_short_lived_mapping_until_the_natted_side_speaks(make_lab: Any) -> None:
    """Same 3-s timeout on natA, but the nodes go quiet once they have a peer (RandomWalk target 1; RandomChurn
    at its defaults, which would not look at a silent peer before 27.5 s). natA forgets the flow, B's
    messages are then dropped at natA while B still lists A as a verified peer, until A sends something: that
    re-creates the mapping (on the same public port) and B's messages get through again. Nobody is dropped."""
    if not have_conntrack_tool():
        pytest.skip("this scenario watches natA's conntrack table: install conntrack")
    lab = make_lab("masq", "masq")
    shorten_udp_timeouts(lab, 3)
    nodes = start_nodes(lab, "--walk-target", "1")
    node_a, node_b = nodes["A"], nodes["B"]
    public = {site: public_address(node, lab) for site, node in nodes.items()}
    for site in "AB":
        wait_for_peer(nodes[site], nodes[other(site)], lab, timeout=10.0)
    first_flows = conntrack_flows(lab, "A", wan_ip("B"))
    assert first_flows, "natA has no flow between the peers"

    # Wait for natA to forget the flow (3 s after the last packet).
    deadline = time.time() + 8.0
    while conntrack_flows(lab, "A", wan_ip("B")) and time.time() < deadline:
        time.sleep(0.25)
    assert conntrack_flows(lab, "A", wan_ip("B")) == [], f"the flow did not expire\n{lab.describe()}"
    quiet_since = max(event["t"] for event in node_b.of_kind("rx") if event["source"] == public["A"])

    # B still believes in A, sends, and natA's firewall drops everything.
    dropped_before = _wan_drops(lab, "natA")
    node_b.command("send 5")
    node_b.command("peers")
    listing = node_b.wait_event("peers", 3.0)
    assert listing is not None and [peer["mid"] for peer in listing["peers"]] == [mid_of(node_a)]
    time.sleep(1.0)
    assert messages_from(node_a, node_b) == [], "B's messages passed a NAT that had forgotten the flow"
    assert _wan_drops(lab, "natA") - dropped_before >= 5

    # A speaks: natA maps it again, on the same public port, and B's messages flow again.
    node_a.command("send 5")
    from_a = wait_for_messages(node_b, node_a, 5, timeout=3.0)
    assert len(from_a) == 5 and {m["source"] for m in from_a} == {public["A"]}
    renewed = conntrack_flows(lab, "A", wan_ip("B"))
    assert renewed and renewed[0].public_port == first_flows[0].public_port, (first_flows, renewed)
    assert renewed[0].age is not None and renewed[0].age <= time.time() - quiet_since, renewed
    node_b.command("send 5")
    from_b = wait_for_messages(node_a, node_b, 5, timeout=3.0)
    assert len(from_b) == 5 and {m["source"] for m in from_b} == {public["B"]}
    for node in nodes.values():
        assert node.of_kind("peer_lost") == []
    assert time.time() - quiet_since < 27.5, "the scenario ran into the churn threshold"


def _wan_drops(lab: NetLab, router: str) -> int:
    """Packets the router's WAN firewall dropped (INPUT and FORWARD)."""
    return sum(packets for chain in ("INPUT", "FORWARD")
               for packets, rule in lab.rule_packet_counts(router, chain)
               if rule.startswith("DROP") and "statistic" not in rule)


def watch_flow(lab: NetLab, seconds: float, interval: float = 0.25) -> list[tuple[float, Any]]:
    """Sample natA's flow towards B for ``seconds``: ``(time, flow or None)`` pairs."""
    samples = []
    end = time.time() + seconds
    while time.time() < end:
        flows = conntrack_flows(lab, "A", wan_ip("B"))
        samples.append((time.time(), flows[0] if flows else None))
        time.sleep(interval)
    return samples


def hear_from_each_other(nodes: dict[str, LabProcess], lab: NetLab) -> None:
    """
    One message each way once both nodes verified each other.

    RandomChurn leaves alone a peer whose ``last_response`` is still 0 (as in pyipv8): a peer is created with 0
    from the packet that verifies it, and only later packets from its (verified) address set the time. Quiet
    nodes that stop walking right after discovery would otherwise never be pinged at all.
    """
    for node in nodes.values():
        node.command("send 1")
    for site in "AB":
        got = wait_for_messages(nodes[site], nodes[other(site)], 1, timeout=3.0)
        assert got, f"{site} got no message from {other(site)}\n{lab.describe()}"


#: RandomChurn scaled down so that a peer counts as inactive after 4 s, just beyond natA's 3-s timeout. (The
#: ping interval stays above RandomChurn.answer_window, 5 s: a re-ping restarts that window.)
FAST_CHURN = ("--churn-inactive", "4", "--churn-ping-interval", "6", "--churn-drop", "7")
NO_CHURN = ("--churn-inactive", "1000", "--churn-drop", "2000")


def test_churn_pings_from_the_natted_side_restore_an_expired_mapping(make_lab: Any) -> None:
    """natA forgets idle flows after 3 s; both nodes stop walking after one peer and run RandomChurn that pings
    a peer silent for 4 s. Every 4-5 s the mapping expires, and is restored by A's ping (B's pings are
    dropped at natA meanwhile, but A's make B hear from A again): no peer is ever dropped."""
    if not have_conntrack_tool():
        pytest.skip("this scenario watches natA's conntrack table: install conntrack")
    lab = make_lab("masq", "masq")
    shorten_udp_timeouts(lab, 3)
    nodes = start_nodes(lab, "--walk-target", "1", *FAST_CHURN)
    public = {site: public_address(node, lab) for site, node in nodes.items()}
    for site in "AB":
        wait_for_peer(nodes[site], nodes[other(site)], lab, timeout=10.0)
    hear_from_each_other(nodes, lab)
    samples = watch_flow(lab, 9.0)

    gone = [t for t, flow in samples if flow is None]
    assert gone, f"natA never forgot the flow: {samples}"
    back = [flow for t, flow in samples if flow is not None and t > gone[0]]
    assert back, "the flow never came back after expiring"
    assert {flow.public_port for flow in back} == {int(public["A"].rsplit(":", 1)[1])}
    # The line went quiet for longer than natA's timeout (so the mapping really died) but far less than
    # the churn drop time, and nobody dropped anybody.
    arrivals = [event["t"] for event in nodes["B"].of_kind("rx") if event["source"] == public["A"]]
    assert max(later - earlier for earlier, later in zip(arrivals, arrivals[1:])) > 3.0
    for node in nodes.values():
        assert node.of_kind("peer_lost") == [], lab.describe()


def test_silent_peer_behind_an_expired_nat_is_dropped_and_only_found_again_once_it_speaks(make_lab: Any) -> None:
    """As above, but only B runs the fast churn; A stays silent. B's pings die at natA, so B drops A (after 7 s
    of silence and an unanswered ping). B then walks again and the tracker re-introduces A, but A's mapping
    towards the tracker has expired as well: the tracker's puncture request never reaches A and B's walks to A
    are dropped at natA. Only when A sends again (here: a message a second to B, which A still lists as a
    peer) does natA open again, and one of B's next walks verifies A."""
    lab = make_lab("masq", "masq")
    shorten_udp_timeouts(lab, 3)
    nodes = start_nodes(lab, "--walk-target", "1", options_a=NO_CHURN, options_b=FAST_CHURN)
    node_a, node_b = nodes["A"], nodes["B"]
    public = {site: public_address(node, lab) for site, node in nodes.items()}
    wait_for_peer(node_b, node_a, lab, timeout=10.0)
    wait_for_peer(node_a, node_b, lab, timeout=10.0)
    hear_from_each_other(nodes, lab)
    last_heard = messages_from(node_b, node_a)[0]["t"]

    lost = node_b.wait_event("peer_lost", 14.0, mid=mid_of(node_a))
    assert lost is not None, f"B never dropped A\n{lab.describe()}"
    assert lost["t"] - last_heard >= 7.0

    # The tracker tells B about A again, but nothing gets through to the silent A.
    reintroduced = node_b.wait_for(lambda e: e.get("event") == "walkable" and e.get("address") == public["A"]
                                   and e["t"] > lost["t"], 3.0)
    assert reintroduced is not None, f"the tracker did not re-introduce A\n{lab.describe()}"
    time.sleep(2.0)
    assert [e for e in node_b.of_kind("peer", mid=mid_of(node_a)) if e["t"] > lost["t"]] == []
    assert [e for e in node_a.events if e["t"] > lost["t"]] == [], "a packet reached A through its expired NAT"

    # A speaks again, once a second (each packet opens natA for 3 s); soon one of B's walks gets through.
    spoke_at = time.time()
    found_again = None
    while found_again is None and time.time() < spoke_at + 8.0:
        node_a.command("send 1")
        found_again = node_b.wait_for(lambda e: e.get("event") == "peer" and e.get("mid") == mid_of(node_a)
                                      and e["t"] > spoke_at, 1.0)
    assert found_again is not None, f"B did not find A again after A spoke\n{lab.describe()}"
    assert found_again["address"] == public["A"]
    assert node_a.of_kind("peer_lost") == []


# -- optional: a pyipv8 3.2.1 node behind natB ------------------------------------------------------------------

REFERENCE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-ref" / "bin" / "python"
REFERENCE_NODE = Path(__file__).resolve().with_name("reference") / "ref_node.py"


def test_txipv8_and_pyipv8_nodes_punch_through_two_nats(make_lab: Any) -> None:
    """A txipv8 node behind natA and a pyipv8 3.2.1 node behind natB, introduced by the txipv8 tracker: they
    verify each other under their public mappings and exchange signed messages directly."""
    if not REFERENCE_PYTHON.exists():
        pytest.skip("no pyipv8 reference interpreter (.venv-ref; make ref-venv builds it)")
    lab = make_lab("masq", "masq")
    lab.start_tracker()
    node_a = lab.start_node("A", "--auto-send", str(MESSAGES), wait=None)
    node_b = lab.start_node("B", "--auto-send", str(MESSAGES), "--lan-ip", SITES["B"][2], "--port", "27001",
                            wait=None, script=REFERENCE_NODE, python=str(REFERENCE_PYTHON))
    for node in (node_a, node_b):
        lab.wait_ready(node, timeout=15.0)
    assert node_b.first("ready")["implementation"] == "pyipv8 3.2.1"
    nodes = {"A": node_a, "B": node_b}
    public = {site: public_address(node, lab) for site, node in nodes.items()}
    assert public["B"] == f"{wan_ip('B')}:27001"
    for site in "AB":
        event = wait_for_peer(nodes[site], nodes[other(site)], lab, timeout=10.0)
        assert event["address"] == public[other(site)]
    for site in "AB":
        received = wait_for_messages(nodes[site], nodes[other(site)], MESSAGES, timeout=3.0)
        assert len(received) == MESSAGES, f"{site} got {len(received)}/{MESSAGES}\n{lab.describe()}"
        assert {message["source"] for message in received} == {public[other(site)]}
