"""How a device is reached: the contract every transport keeps (contract.py), the transports
(ssh.py over paramiko, fake.py for tests), and the one place a device's host picks its transport
(schemes.py). Nothing is imported here: the SSH library loads only when a device is reached.
"""
