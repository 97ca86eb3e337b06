"""`portspec draft`: a spec skeleton for a new product from what a device shows (skeleton.py, rows.py)
and the command that reads the device for it (cli.py)."""
