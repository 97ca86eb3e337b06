"""Parsers of what a device prints (ufw, ss, netstat): plain text in, typed data out (pure)."""
