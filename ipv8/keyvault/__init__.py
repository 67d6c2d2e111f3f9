"""Keys for txipv8: generation, (de)serialisation, signatures and key files.

Start with :data:`ipv8.keyvault.crypto.default_eccrypto`; the key classes live in
:mod:`ipv8.keyvault.keys` (interfaces), :mod:`ipv8.keyvault.private` and :mod:`ipv8.keyvault.public`.
"""
