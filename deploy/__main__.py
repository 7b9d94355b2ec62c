"""`python -m deploy [-i INVENTORY] [ansible-playbook args...]`.

Deploys playbooks/site.yml to the inventory given, or to the lab (brought up
first) when none is; prints the URL of the floating IP. Arguments other than
-i/--inventory go to ansible-playbook unchanged (--limit, -e, --vault-id...).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from deploy import SITE_PLAYBOOK, DeployError, hooks
from deploy.ansible import cluster_vars, run_playbook
from deploy.credentials import API_TOKEN_FILE, secrets_dir
from deploy.target import given_inventory, lab_inventory

_USAGE = "usage: python -m deploy [-i INVENTORY] [ansible-playbook args...]"


def split_args(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """(-i/--inventory value or None, everything else in order)."""
    inventory: str | None = None
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("-i", "--inventory", "--inventory-file"):
            inventory = next(args, None)
            if inventory is None:
                raise DeployError(f"{arg} needs a path\n{_USAGE}")
        elif arg.startswith("--inventory="):
            inventory = arg.split("=", 1)[1]
        elif arg.startswith("-i") and len(arg) > 2:
            inventory = arg[2:]
        else:
            rest.append(arg)
    return inventory, rest


def deploy(argv: Sequence[str]) -> hooks.Deployment:
    given, playbook_args = split_args(argv)
    inventory = given_inventory(given) if given else lab_inventory()
    deployment = hooks.Deployment(inventory, playbook_args, cluster_vars(inventory, playbook_args))
    hooks.before_playbook(deployment)
    run = run_playbook(SITE_PLAYBOOK, inventory, playbook_args)
    print(f"ansible-playbook {SITE_PLAYBOOK.name}: exit {run.returncode} in {run.seconds:.0f} s")
    if run.returncode != 0:
        raise DeployError(f"ansible-playbook failed (exit {run.returncode}; see above)")
    hooks.after_playbook(deployment)
    return deployment


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    try:
        deployment = deploy(args)
    except RuntimeError as exc:  # DeployError, and the hooks' own (image, smoke) errors
        print(f"deploy: error: {exc}", file=sys.stderr)
        return 1
    print(f"imgcloud is deployed: {deployment.url or '(the inventory sets no imgcloud_vip)'}")
    if deployment.url and deployment.site_ca:
        print(f"its certificate is checked against the CA in {deployment.site_ca}")
    token_file = secrets_dir(deployment.variables, deployment.inventory) / API_TOKEN_FILE
    if token_file.is_file():
        print(f"admin token: {token_file} (`imgcloud users add NAME` with IMGCLOUD_TOKEN set)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
