"""Record pyipv8 3.2.1's PEX community ids and extra bytes, for ``test_hidden_pex.py``.

Run it ONLY with the reference interpreter (pyipv8 3.2.1 installed as ``ipv8``)::

    .venv-ref/bin/python tests/messaging/anonymization/make_pex_vectors.py \
        tests/messaging/anonymization/pex_vectors.json                          (part of `make vectors`)

Sections: ``community_ids`` (info hash -> the id and 22-byte prefix a real ``PexCommunity`` gets), and
``extra_bytes`` (the seeder keys a ``PexCommunity`` announcing them puts into its introduction messages, with
one key so that the random pick changes nothing). Bytes are hex. Only drives pyipv8; none of its code is
part of txipv8.
"""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path


async def record() -> dict:
    from ipv8.keyvault.crypto import default_eccrypto
    from ipv8.messaging.anonymization.pex import PexCommunity, PexSettings
    from ipv8.peer import Peer
    from ipv8.peerdiscovery.network import Network
    from ipv8.test.mocking.endpoint import AutoMockEndpoint

    key = default_eccrypto.key_from_private_bin(bytes.fromhex(
        "4c69624e61434c534b3a" + "11" * 32 + "22" * 32))
    info_hashes = [bytes(20), b"\x01" * 20, bytes.fromhex("ff" * 19 + "fe"), bytes.fromhex("00" * 19 + "ff"),
                   bytes(range(20))]
    seeder_keys = [default_eccrypto.key_from_private_bin(bytes.fromhex("4c69624e61434c534b3a" + f"{i:02x}" * 64))
                   .pub().key_to_bin() for i in (3, 4)]
    out: dict = {"community_ids": [], "extra_bytes": []}
    for info_hash in info_hashes:
        endpoint = AutoMockEndpoint()
        endpoint.open()
        community = PexCommunity(PexSettings(my_peer=Peer(key), endpoint=endpoint, network=Network(),
                                             info_hash=info_hash))
        out["community_ids"].append({"info_hash": info_hash.hex(), "community_id": community.community_id.hex(),
                                     "prefix": community.get_prefix().hex()})
        if info_hash == info_hashes[-1]:
            for keys in ([], seeder_keys[:1]):
                community.intro_points_for = list(keys)
                out["extra_bytes"].append({"seeder_keys": [k.hex() for k in keys],
                                           "extra_bytes": community.get_seeder_pks().hex()})
            out["extra_bytes"].append({"seeder_keys": [k.hex() for k in seeder_keys],
                                       "extra_bytes": community.serializer.pack("varlenH-list", seeder_keys).hex()})
        await community.unload()
    return out


def main() -> None:
    import ipv8
    if not getattr(ipv8, "__file__", "").startswith(str(Path(sys.executable).resolve().parents[1])) \
            and ".venv-ref" not in ipv8.__file__:
        raise SystemExit("run this with the pyipv8 3.2.1 reference interpreter (.venv-ref/bin/python)")
    result = asyncio.run(record())
    Path(sys.argv[1]).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
