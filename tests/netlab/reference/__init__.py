"""Drivers that run the pyipv8 reference implementation inside the NAT lab."""
