"""Wire test vectors recorded from pyipv8 3.2.1 (see make_vectors.py) and the tests that replay them."""
