"""NAT-traversal tests of txipv8 in Linux network namespaces (root only)."""
