"""The steps around the playbook: the place to add deployment steps.

`python -m deploy` calls before_playbook, runs playbooks/site.yml, then calls
after_playbook; `ready_problems` tells the test fixtures whether a deployment
is needed at all. The service engineer adds the image build and push (before)
and the smoke upload through the floating IP (after) here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import DeployError, image, smoke
from deploy.ansible import cluster_vars
from deploy.credentials import load
from deploy.health import cluster_problems
from deploy.site import site_ca, site_url


@dataclass
class Deployment:
    inventory: Path
    playbook_args: list[str]
    variables: dict[str, Any] = field(default_factory=dict)  # of the first cluster host

    @property
    def url(self) -> str | None:
        """Where users reach the service: https://<floating IP>/ or imgcloud_url (deploy.site)."""
        return site_url(self.variables)

    @property
    def site_ca(self) -> Path | None:
        """The CA that checks `url`'s certificate; None: the system's roots (deploy.site)."""
        return site_ca(self.variables, self.inventory)

    @property
    def api_token(self) -> str:
        """The service's admin token the deploy made (deploy.credentials)."""
        return load(self.variables, self.inventory).api_token


def before_playbook(deployment: Deployment) -> None:
    """Runs before playbooks/site.yml (e.g. build and push the image the VMs pull)."""
    image.build_and_push(deployment.variables, image.version_from_args(deployment.playbook_args))


def after_playbook(deployment: Deployment) -> None:
    """Runs after a successful playbooks/site.yml (e.g. a smoke upload through the URL)."""
    if deployment.url:
        smoke.report(deployment.url, deployment.api_token, deployment.site_ca)


def ready_problems(deployment: Deployment) -> list[str]:
    """What keeps this deployment from being complete; empty when nothing does."""
    problems = cluster_problems(deployment.inventory)
    if not deployment.variables:
        deployment.variables = cluster_vars(deployment.inventory, deployment.playbook_args)
    if not problems and deployment.url:
        try:
            token = deployment.api_token
        except DeployError as exc:  # no deploy yet wrote it
            return [str(exc)]
        problems += smoke.service_problems(deployment.url, token, deployment.site_ca)
    return problems
