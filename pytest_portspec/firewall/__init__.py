"""The kernel firewall model: what a device really enforces, decided over whole sets of flows."""
