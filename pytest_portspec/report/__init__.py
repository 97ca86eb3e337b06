"""The acceptance sign-off report: data built from results (data.py), HTML rendering (html.py)."""
