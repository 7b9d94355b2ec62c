"""The lab: imgcloud's cloud (a bastion, VMs, the provider's services) on one machine.

`python -m lab up | down | status [--json]`; see docs/lab.md.
"""
