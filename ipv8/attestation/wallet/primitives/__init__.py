"""Number theory and encryption primitives shared by the wallet's identity algorithms."""
