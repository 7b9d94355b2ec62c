"""The security lane: what the hardened cluster denies, and what it lets through.

Every test here runs against the deployed cluster (the lab unless `--inventory`),
through the shared fixtures of tests/conftest.py.
"""
