#!/usr/bin/env python3
"""TrustChain: validation speed, signed pairs per second over UDP, crawling, database size per block.

Four measurements (issue 15's targets in brackets):

* ``validate``: a chain of ``--blocks`` (100,000) signed blocks checked three ways: block by block against
  the sqlite database holding them (``TrustChainBlock.validate(db)``, on the first 10,000 blocks only, as
  1.x does it), with :func:`~ipv8.attestation.trustchain.memory.validate_chain` on one thread and on two
  [100k blocks in < 10 s]. The raw Ed25519 verification rate is the floor every path pays per block.
* ``pairs``: two nodes in two processes over UDP on 127.0.0.1 sign ``--pairs`` proposal/agreement pairs:
  the proposer keeps ``--window`` proposals outstanding (and, for comparison, one at a time); a pair counts
  when the agreement is back, validated and stored on both sides [>= 2,000 pairs/s]. Afterwards the
  proposer's database is audited (every block must validate).
* ``crawl``: a third node crawls the countersigner's chain (``crawl_chain``); then a node in another process
  stores a chain of ``--crawl-blocks`` (100,000) blocks and a node here crawls all of it [100k blocks in
  < 30 s]. Both sides use ``max_crawl_batch`` 50 (1.x: 10) and ``crawl_window`` 4 (ranges in flight).
* ``db``: bytes of database file per stored block.

With ``--reference`` pyipv8 1.10.0 (``.venv-ipv8-1x``, ``make legacy-1x-venv``) measures the same things
its own way in a subprocess (``bench/reference/trustchain_1x.py``): block-by-block validation against its
database and pairs between two 1.10 nodes in one process, one at a time.

Usage: ``.venv/bin/python bench/trustchain.py [--quick] [--reference] [--markdown] [--blocks N] [--pairs N]
[--window N] [--crawl-blocks N] [--pairs-only] [--profile DIR]``. ``--pairs-only`` measures only the pairs and
prints the CPU each process spent per pair (independent of the machine's load); ``--profile DIR`` runs both
nodes under cProfile during the windowed pairs (``proposer.prof``, ``countersigner.prof``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, REPO_ROOT)
sys.path.insert(2, os.path.join(REPO_ROOT, "tests", "interop", "reference"))

from _harness import (
    clean_environment,
    machine_description,
    run_reference,
    use_project_interpreter,
)

use_project_interpreter()

import _guard_verdicts  # noqa: F401 - installs the loopback guard (verdicts remembered per host)
import loopback_guard

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.python.failure import Failure

from ipv8.attestation.trustchain.block import TrustChainBlock
from ipv8.attestation.trustchain.community import TrustChainCommunity
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.attestation.trustchain.memory import (
    MemoryChainStore,
    validate_chain,
    validate_database,
)
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

LEGACY_1X_PYTHON = os.path.join(REPO_ROOT, ".venv-ipv8-1x", "bin", "python")
#: Settings of both benchmark nodes: limits meant against strangers must not throttle the measured flow.
NODE_SETTINGS = {"broadcast_rate_limit": 100_000.0, "crawl_rate_limit": 100_000.0, "max_crawl_batch": 50,
                 "max_pending_countersigns": 256, "max_pending_signatures": 1024, "crawl_timeout": 2.0}


def timed(work: Any) -> tuple[Any, float, float]:
    """``work()``'s result, its wall seconds and the CPU seconds of this process meanwhile."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def make_chain(count: int) -> list[TrustChainBlock]:
    """``count`` proposals of one key to another, each properly signed and chained."""
    key, other = default_eccrypto.generate_key("curve25519"), default_eccrypto.generate_key("curve25519")
    public_key, other_key = key.pub().key_to_bin(), other.pub().key_to_bin()
    store = MemoryChainStore()
    blocks = []
    for number in range(count):
        block = TrustChainBlock.create(b"bench", {"number": number, "up": 1024}, store, public_key,
                                       link_pk=other_key, timestamp=1_700_000_000_000 + number)
        block.sign(key)
        store.add(block)
        blocks.append(block)
    return blocks


def bench_validation(count: int) -> dict[str, Any]:
    blocks, made, _ = timed(lambda: make_chain(count))
    print(f"  made {count} signed blocks in {made:.1f} s", file=sys.stderr)
    figures: dict[str, Any] = {"blocks": count}
    _, wall, cpu = timed(lambda: [block.has_valid_signature() for block in blocks])
    figures["verify_only"] = {"per_s": count / wall, "cpu_per_s": count / cpu}
    sample = blocks[:min(count, 10_000)]
    with tempfile.TemporaryDirectory() as directory:
        db = TrustChainDB(os.path.join(directory, "tc.db"))
        db.add_blocks(sample)
        results, wall, cpu = timed(lambda: [block.validate(db) for block in sample])
        assert all(result.acceptable for result in results)
        figures["sqlite"] = {"blocks": len(sample), "per_s": len(sample) / wall, "cpu_per_s": len(sample) / cpu}
        db.close()
    for workers in (1, 2):
        results, wall, cpu = timed(lambda: validate_chain(blocks, workers=workers))  # noqa: B023
        assert all(result.acceptable for result in results)
        figures[f"memory_{workers}"] = {"seconds": wall, "per_s": count / wall, "cpu_s": cpu}
    return figures


def start_worker(db_path: str, **extra: Any) -> tuple[subprocess.Popen, dict[str, Any]]:
    worker = subprocess.Popen([sys.executable, os.path.join(BENCH_DIR, "_trustchain_worker.py"),
                               json.dumps({**NODE_SETTINGS, "working_directory": db_path, **extra})],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=clean_environment())
    line = worker.stdout.readline()
    if not line:
        raise SystemExit("the countersigning worker did not start")
    return worker, json.loads(line)


async def open_node(directory: str, **extra: Any) -> TrustChainCommunity:
    endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
    await endpoint.open()
    loopback_guard.guard_endpoint(endpoint)
    key = default_eccrypto.generate_key("curve25519")
    return TrustChainCommunity(TrustChainCommunity.settings_class(
        my_peer=Peer(key, UDPv4Address(*endpoint.get_address())), endpoint=endpoint, network=Network(),
        working_directory=directory, **{**NODE_SETTINGS, **extra}))


async def sign_pairs(proposer: TrustChainCommunity, peer: Peer, count: int, window: int) -> float:
    """Sign ``count`` pairs with ``window`` proposals in flight; the wall seconds it took.

    Each finished pair starts the next proposal from its own callback, as an application that keeps a window
    of proposals would: a semaphore and one gathered Deferred per pair measured the bookkeeping of this
    script (~5% of the proposer's CPU), not TrustChain.
    """
    done: Deferred = Deferred()
    state = {"started": 0, "finished": 0, "failures": 0}

    def start_next() -> None:
        number = state["started"]
        state["started"] += 1
        proposer.sign_block(peer, block_type=b"bench", transaction={"n": number}).addBoth(finished)

    def finished(result: Any) -> None:
        if isinstance(result, Failure):
            state["failures"] += 1
        state["finished"] += 1
        if state["started"] < count:
            start_next()
        elif state["finished"] == count and not done.called:
            done.callback(None)

    start = time.perf_counter()
    for _ in range(min(window, count)):
        start_next()
    if count:
        await done
    seconds = time.perf_counter() - start
    if state["failures"]:
        raise RuntimeError(f"{state['failures']} of {count} proposals were not countersigned")
    return seconds


async def timed_pairs(proposer: TrustChainCommunity, counterpart: Peer, worker: subprocess.Popen, count: int,
                      window: int) -> dict[str, Any]:
    """Sign ``count`` pairs with ``window`` proposals in flight: the rate, and the CPU each process spent."""
    cpu, worker_cpu, load = time.process_time(), _worker_cpu(worker), os.getloadavg()[0]
    kernel, worker_kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime, _worker_cpu(worker, kernel_only=True)
    seconds = await sign_pairs(proposer, counterpart, count, window)
    cpu, worker_cpu = time.process_time() - cpu, _worker_cpu(worker) - worker_cpu
    kernel = resource.getrusage(resource.RUSAGE_SELF).ru_stime - kernel
    worker_kernel = _worker_cpu(worker, kernel_only=True) - worker_kernel
    # CPU per pair depends less on how busy the machine is than pairs per second do (not at all, it does not).
    return {"pairs": count, "window": window, "seconds": seconds, "per_s": count / seconds, "proposer_cpu_s": cpu,
            "countersigner_cpu_s": worker_cpu, "proposer_us_per_pair": cpu / count * 1e6,
            "countersigner_us_per_pair": worker_cpu / count * 1e6,
            "proposer_kernel_us_per_pair": kernel / count * 1e6,
            "countersigner_kernel_us_per_pair": worker_kernel / count * 1e6, "loadavg_before": load,
            "loadavg_after": os.getloadavg()[0]}


async def bench_network(pairs: int, window: int, profile: str | None = None,
                        pairs_only: bool = False, deep_window: int = 128) -> dict[str, Any]:
    figures: dict[str, Any] = {"pairs": pairs, "window": window}
    with tempfile.TemporaryDirectory() as directory:
        worker, hello = start_worker(os.path.join(directory, "worker"),
                                     **({"profile": os.path.join(profile, "countersigner.prof")} if profile else {}))
        try:
            counterpart = Peer(bytes.fromhex(hello["public_key"]), UDPv4Address(*hello["address"]))
            proposer = await open_node(os.path.join(directory, "proposer"))
            profiler = None
            if profile:
                import cProfile  # noqa: PLC0415 - only when asked for
                profiler = cProfile.Profile()
                profiler.enable()
            figures["windowed"] = await timed_pairs(proposer, counterpart, worker, pairs, window)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(os.path.join(profile, "proposer.prof"))
            # A deeper pipeline: on a busy machine each hop waits for the other process to be scheduled,
            # and with few proposals in flight that wait, not the CPU, sets the rate.
            figures["deep"] = await timed_pairs(proposer, counterpart, worker, pairs, deep_window)
            one_at_a_time = max(pairs // 5, 50)
            seconds = await sign_pairs(proposer, counterpart, one_at_a_time, 1)
            figures["sequential"] = {"pairs": one_at_a_time, "per_s": one_at_a_time / seconds}
            if pairs_only:
                await proposer.unload()
                await proposer.endpoint.close()
                return figures
            verdicts, wall, _ = timed(lambda: validate_database(proposer.persistence))
            figures["audit"] = {"blocks": len(verdicts), "all_valid": all(v.acceptable for v in verdicts.values()),
                                "seconds": wall}
            # A third node crawls the countersigner's whole chain.
            crawler = await open_node(os.path.join(directory, "crawler"))
            total = 2 * pairs + one_at_a_time
            start = time.perf_counter()
            await crawler.crawl_chain(counterpart, latest_block_num=total)
            seconds = time.perf_counter() - start
            got = crawler.persistence.get_number_of_known_blocks(counterpart.public_key.key_to_bin())
            figures["crawl"] = {"blocks": got, "expected": total, "seconds": seconds, "per_s": got / seconds}
            stored = proposer.persistence.get_number_of_known_blocks()
            db_file = os.path.join(directory, "proposer", "sqlite", "trustchain.db")
            await proposer.unload()
            await crawler.unload()
            await proposer.endpoint.close()
            await crawler.endpoint.close()
            size = sum(os.path.getsize(path) for path in (db_file, db_file + "-wal") if os.path.exists(path))
            figures["db"] = {"blocks": stored, "bytes": size, "bytes_per_block": size / max(stored, 1)}
        finally:
            worker.stdin.close()
            last = worker.stdout.readline()
            worker.wait(10)
            figures["worker"] = json.loads(last) if last else {}
    return figures


async def bench_big_crawl(blocks: int) -> dict[str, Any]:
    """A node in another process holds a chain of ``blocks`` blocks; a node here crawls all of it."""
    with tempfile.TemporaryDirectory() as directory:
        made = time.perf_counter()
        worker, hello = start_worker(os.path.join(directory, "holder"), preload=blocks)
        print(f"  the holder made and stored {blocks} blocks in {time.perf_counter() - made:.1f} s", file=sys.stderr)
        try:
            holder = Peer(bytes.fromhex(hello["public_key"]), UDPv4Address(*hello["address"]))
            worker_cpu_before = _worker_cpu(worker)
            crawler = await open_node(os.path.join(directory, "crawler"))
            wall, cpu = time.perf_counter(), time.process_time()
            await crawler.crawl_chain(holder, latest_block_num=blocks)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            worker_cpu = _worker_cpu(worker) - worker_cpu_before
            got = crawler.persistence.get_number_of_known_blocks(holder.public_key.key_to_bin())
            await crawler.unload()
            await crawler.endpoint.close()
        finally:
            worker.stdin.close()
            worker.stdout.readline()
            worker.wait(10)
    return {"blocks": got, "expected": blocks, "seconds": wall, "per_s": got / wall, "crawler_cpu_s": cpu,
            "holder_cpu_s": worker_cpu}


def _worker_cpu(worker: subprocess.Popen, kernel_only: bool = False) -> float:
    """CPU seconds (user + system, or system only) the worker process used so far (Linux /proc)."""
    try:
        with open(f"/proc/{worker.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[12]) + (0 if kernel_only else int(fields[11]))) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


async def bench_all_network(pairs: int, window: int, crawl_blocks: int, profile: str | None = None,
                            pairs_only: bool = False, deep_window: int = 128) -> dict[str, Any]:
    figures = await bench_network(pairs, window, profile, pairs_only, deep_window)
    if crawl_blocks:
        print(f"crawl of {crawl_blocks} blocks ...", file=sys.stderr)
        figures["big_crawl"] = await bench_big_crawl(crawl_blocks)
    return figures


def run_network(pairs: int, window: int, crawl_blocks: int = 0, profile: str | None = None,
                pairs_only: bool = False, deep_window: int = 128) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def done(result: Any) -> None:
        outcome["result"] = result
        reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(bench_all_network(pairs, window, crawl_blocks, profile,
                                                                             pairs_only, deep_window)).addBoth(done))
    reactor.run()
    if not isinstance(outcome.get("result"), dict):
        raise SystemExit(f"the network benchmark failed: {outcome.get('result')}")
    return outcome["result"]


def print_report(ours: dict[str, Any], reference: dict[str, Any] | None, markdown: bool) -> None:
    validation, network = ours["validate"], ours["network"]
    windowed, deep = network["windowed"], network["deep"]
    rows = [
        ("Ed25519 verify only (floor per block)", f"{validation['verify_only']['per_s']:,.0f} /s", ""),
        (f"validate block by block vs sqlite ({validation['sqlite']['blocks']:,} blocks)",
         f"{validation['sqlite']['per_s']:,.0f} blocks/s",
         f"{reference['validate_per_s']:,.0f} blocks/s" if reference else ""),
        (f"validate_chain, 1 thread ({validation['blocks']:,} blocks)",
         f"{validation['memory_1']['seconds']:.1f} s ({validation['memory_1']['per_s']:,.0f}/s)", ""),
        (f"validate_chain, 2 threads ({validation['blocks']:,} blocks)",
         f"{validation['memory_2']['seconds']:.1f} s ({validation['memory_2']['per_s']:,.0f}/s)", ""),
        (f"pairs over UDP, 2 processes, window {network['window']}",
         f"{network['windowed']['per_s']:,.0f} pairs/s", ""),
        ("CPU per pair in the windowed run: proposer / countersigner",
         f"{windowed['proposer_us_per_pair']:,.0f} / {windowed['countersigner_us_per_pair']:,.0f} us", ""),
        (f"pairs over UDP, 2 processes, window {deep['window']}", f"{deep['per_s']:,.0f} pairs/s", ""),
        ("pairs over UDP, one at a time", f"{network['sequential']['per_s']:,.0f} pairs/s",
         f"{reference['pairs_per_s']:,.0f} pairs/s (1 process)" if reference else ""),
        (f"audit of the proposer's database ({network['audit']['blocks']:,} blocks)",
         f"{'all valid' if network['audit']['all_valid'] else 'INVALID BLOCKS'}, {network['audit']['seconds']:.2f} s",
         ""),
        (f"crawl {network['crawl']['blocks']:,}/{network['crawl']['expected']:,} blocks",
         f"{network['crawl']['seconds']:.1f} s ({network['crawl']['per_s']:,.0f} blocks/s)", ""),
        *([(f"crawl {network['big_crawl']['blocks']:,}/{network['big_crawl']['expected']:,} blocks, other process",
            f"{network['big_crawl']['seconds']:.1f} s ({network['big_crawl']['per_s']:,.0f} blocks/s)", "")]
          if "big_crawl" in network else []),
        ("database bytes per block", f"{network['db']['bytes_per_block']:,.0f}",
         f"{reference['db_bytes_per_block']:,.0f}" if reference else ""),
    ]
    header = ("measurement", "txipv8", "pyipv8 1.10" if reference else "")
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in (header, *rows):
            print(f"{row[0]:<62} {row[1]:<28} {row[2]}")
    print(f"\n{machine_description()}")


def print_pairs(network: dict[str, Any]) -> None:
    """The pair rates with the CPU each process spent per pair and the load average around the run."""
    windowed, deep = network["windowed"], network["deep"]
    print(f"pairs over UDP, window {deep['window']}: {deep['per_s']:,.0f} pairs/s ({deep['seconds']:.2f} s); "
          f"CPU per pair: proposer {deep['proposer_us_per_pair']:,.0f} us, countersigner "
          f"{deep['countersigner_us_per_pair']:,.0f} us; load average {deep['loadavg_before']:.2f} -> "
          f"{deep['loadavg_after']:.2f}", file=sys.stderr)
    print(f"pairs over UDP, window {network['window']}: {windowed['per_s']:,.0f} pairs/s "
          f"({network['pairs']} pairs in {windowed['seconds']:.2f} s); one at a time: "
          f"{network['sequential']['per_s']:,.0f} pairs/s", file=sys.stderr)
    print(f"CPU per pair: proposer {windowed['proposer_us_per_pair']:,.0f} us "
          f"({windowed['proposer_kernel_us_per_pair']:,.0f} in the kernel), countersigner "
          f"{windowed['countersigner_us_per_pair']:,.0f} us "
          f"({windowed['countersigner_kernel_us_per_pair']:,.0f} in the "
          f"kernel); load average {windowed['loadavg_before']:.2f} -> {windowed['loadavg_after']:.2f}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke checks")
    parser.add_argument("--reference", action="store_true", help="also run pyipv8 1.10.0")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--blocks", type=int, default=None, help="chain length to validate (100000)")
    parser.add_argument("--pairs", type=int, default=None, help="pairs to sign (5000)")
    parser.add_argument("--window", type=int, default=32, help="outstanding proposals (32)")
    parser.add_argument("--deep-window", type=int, default=128,
                        help="outstanding proposals of the second windowed run (128)")
    parser.add_argument("--crawl-blocks", type=int, default=None,
                        help="length of the chain crawled from another process (100000; 0: skip)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--pairs-only", action="store_true",
                        help="only the pairs over UDP (windowed and one at a time), with CPU per pair")
    parser.add_argument("--set", metavar="NAME=VALUE", action="append", default=[],
                        help="a TrustChainSettings value for both nodes (JSON value), e.g. commit_batch_size=32")
    parser.add_argument("--profile", metavar="DIR", default=None,
                        help="cProfile both nodes during the windowed pairs; write proposer.prof and "
                             "countersigner.prof to DIR")
    args = parser.parse_args()
    blocks = args.blocks or (3_000 if args.quick else 100_000)
    pairs = args.pairs or (300 if args.quick else 5_000)
    for assignment in args.set:
        name, _, value = assignment.partition("=")
        NODE_SETTINGS[name] = json.loads(value)
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        args.profile = os.path.abspath(args.profile)
    if args.pairs_only:
        network = run_network(pairs, args.window, 0, args.profile, pairs_only=True, deep_window=args.deep_window)
        if args.json:
            print(json.dumps(network, indent=1))
        print_pairs(network)
        return
    reference = None
    if args.reference:
        if not os.access(LEGACY_1X_PYTHON, os.X_OK):
            raise SystemExit(f"{LEGACY_1X_PYTHON} not found: run `make legacy-1x-venv`")
        print("pyipv8 1.10 ...", file=sys.stderr)
        reference = run_reference(LEGACY_1X_PYTHON, "trustchain_1x.py",
                                  ["--quick"] if args.quick else [], timeout=900)
    print("validation ...", file=sys.stderr)
    ours = {"validate": bench_validation(blocks)}
    print("pairs, crawl, database ...", file=sys.stderr)
    crawl_blocks = args.crawl_blocks if args.crawl_blocks is not None else (3_000 if args.quick else 100_000)
    ours["network"] = run_network(pairs, args.window, crawl_blocks, deep_window=args.deep_window)
    print_pairs(ours["network"])
    if args.json:
        print(json.dumps({"txipv8": ours, "pyipv8_1_10": reference}, indent=1))
    print_report(ours, reference, args.markdown)
    refusals = sum(loopback_guard.REFUSALS.values())
    if refusals:
        raise SystemExit(f"the loopback guard refused {refusals} attempts to leave 127.0.0.1")


if __name__ == "__main__":
    main()
