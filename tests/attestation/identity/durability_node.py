"""Helper process for test_durability.py: add credentials to a pseudonym's database until killed.

Usage: ``python durability_node.py <database path> <key hex>``. After each credential is stored it prints
``stored <n>``; the test kills it with SIGKILL at some point and checks the database it leaves.
"""
from __future__ import annotations

import hashlib
import sys

from ipv8.attestation.identity.manager import IdentityManager
from ipv8.keyvault.crypto import default_eccrypto


def main(path: str, key_hex: str) -> None:
    manager = IdentityManager(path)
    pseudonym = manager.get_pseudonym(default_eccrypto.key_from_private_bin(bytes.fromhex(key_hex)))
    # Continue the chain after the newest credential, as the identity overlay does after a restart.
    tree = pseudonym.tree
    newest = max(tree.elements.values(), key=lambda token: len(tree.get_root_path(token, -1)), default=None)
    after = next((credential.metadata for credential in pseudonym.get_credentials()
                  if newest is not None and credential.metadata.token_pointer == newest.get_hash()), None)
    count = len(pseudonym.tree.elements)
    while True:
        credential = pseudonym.create_credential(hashlib.sha3_256(b"%d" % count).digest(), {"name": str(count)},
                                                 after)
        after = credential.metadata
        count += 1
        sys.stdout.write(f"stored {count}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
