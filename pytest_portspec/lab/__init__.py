"""The emulator: real appliances from specs, in Linux network namespaces (`portspec lab`)."""
