"""Run by ``test_legacy.py`` inside the pyipv8 3.2.1 interpreter (``.venv-ref``): legacy keys both ways.

Reads ``{"message": hex, "keys": [{"private": hex, "public": hex, "signature": hex}]}`` (keys made by
txipv8) on stdin, and prints one JSON object: for each of our keys, whether pyipv8 re-serialises it to
the same bytes and accepts our signature; plus, for each legacy level, a key pyipv8 generated itself and
its signature of the message, for txipv8 to load and verify. Only pyipv8's public API is used.
"""
import json
import sys

from ipv8.keyvault.crypto import default_eccrypto


def main() -> None:
    request = json.load(sys.stdin)
    message = bytes.fromhex(request["message"])
    checked = []
    for entry in request["keys"]:
        private = default_eccrypto.key_from_private_bin(bytes.fromhex(entry["private"]))
        public = default_eccrypto.key_from_public_bin(bytes.fromhex(entry["public"]))
        checked.append({
            "private_same": private.key_to_bin().hex() == entry["private"],
            "public_same": private.pub().key_to_bin().hex() == entry["public"] == public.key_to_bin().hex(),
            "verifies": default_eccrypto.is_valid_signature(public, message, bytes.fromhex(entry["signature"])),
            "rejects_tampered": not default_eccrypto.is_valid_signature(public, message + b"!",
                                                                        bytes.fromhex(entry["signature"])),
        })
    generated = []
    for level in ("very-low", "low", "medium", "high"):
        key = default_eccrypto.generate_key(level)
        generated.append({"level": level, "curve": key.curve_name(), "private": key.key_to_bin().hex(),
                          "public": key.pub().key_to_bin().hex(), "signature": key.signature(message).hex()})
    print(json.dumps({"checked": checked, "generated": generated}))


if __name__ == "__main__":
    main()
