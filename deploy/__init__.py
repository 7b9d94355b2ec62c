"""Deploy imgcloud: `python -m deploy [-i INVENTORY] [ansible-playbook args...]`.

With no inventory the lab is brought up and deployed to. The pipeline is
hooks.before_playbook, playbooks/site.yml, hooks.after_playbook, then the URL of
the floating IP; see docs/cluster.md.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE_PLAYBOOK = ROOT / "playbooks" / "site.yml"
CLUSTER_PLAYBOOK = ROOT / "playbooks" / "cluster.yml"
ROLLING_RESTART_PLAYBOOK = ROOT / "playbooks" / "rolling-restart.yml"


class DeployError(RuntimeError):
    """A deployment step failed; the message says which and what to do."""
