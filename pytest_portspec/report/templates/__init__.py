"""Jinja2 templates of the sign-off report: package data, so an installed plugin renders reports."""
