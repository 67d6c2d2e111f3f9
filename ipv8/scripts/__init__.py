"""Command-line programs: the ``twistd ipv8`` service maker and the ``make run`` local network launcher."""
