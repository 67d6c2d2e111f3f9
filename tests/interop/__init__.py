"""Live interoperability tests: txipv8 nodes talking real UDP on 127.0.0.1 with pyipv8 3.2.1 peers."""
