"""Where users reach the service: HTTPS on the floating IP, and the CA that vouches for it.

HAProxy serves the floating IP with a certificate the cluster CA issues, unless the
inventory gives its own (`haproxy_tls_certificate_file` or `haproxy_tls_certificate`,
roles/haproxy). Every client of the service (the deploy's smoke test, the test lanes,
the chaos suite, the load bench, `imgcloud users ...`) checks it: against the CA named
here, or against the system's roots when the operator's certificate is a public one.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deploy.credentials import CA_FILE, hostvar, secrets_dir

# Inventory variables that give HAProxy the operator's own certificate.
OWN_CERTIFICATE_VARS = ("haproxy_tls_certificate_file", "haproxy_tls_certificate")


def site_url(hostvars: Mapping[str, Any]) -> str | None:
    """`imgcloud_url` when the inventory sets one (a DNS name), else https://<floating IP>/."""
    given = str(hostvars.get("imgcloud_url") or "")
    if given:
        return given if given.endswith("/") else given + "/"
    vip = hostvars.get("imgcloud_vip")
    return f"https://{vip}/" if vip else None


def site_ca(hostvars: Mapping[str, Any], inventory: Path) -> Path | None:
    """The CA file that verifies the floating IP's certificate; None: the system's roots.

    `imgcloud_site_ca_file` when set (an operator's private CA); None when the inventory
    gives HAProxy its own certificate; else the cluster CA, which then issued it.
    """
    given = hostvar(hostvars, inventory, "imgcloud_site_ca_file")
    if given:
        return Path(given).expanduser()
    if any(hostvars.get(name) for name in OWN_CERTIFICATE_VARS):
        return None
    return secrets_dir(hostvars, inventory) / CA_FILE


def tls_context(ca_file: Path | str | None) -> ssl.SSLContext:
    """A client context that checks the service's certificate and name: the system's roots,
    plus `ca_file` when given. For httpx (`verify=`) and urllib (`context=`)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=str(ca_file))
    return context
