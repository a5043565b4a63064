"""The public URL end to end: HTTPS through the proxy to the app's health path, and HTTP redirected to it.

This is what a user's browser does, not the loopback port: DNS (or ``NYXOPS_PUBLIC_ADDRESS`` in its
place), the firewall, Caddy's certificate for the domain, the proxy to the app. With Caddy's internal
CA (``NYXOPS_PUBLIC_TLS=internal``), the CA's root is read from the proxy container over SSH and is
the only one trusted; otherwise the system's store (or ``NYXOPS_PUBLIC_CA``) is.
"""

import ssl
import tempfile
from urllib.parse import urlsplit

import httpx

from nyxops.deploy.containers import find_container
from nyxops.errors import RemoteError
from nyxops.verify import CheckResult, Context, failed, passed, skipped, unavailable

NAME = "public"
TIMEOUT = 40
CADDY_ROOT = "/data/caddy/pki/authorities/local/root.crt"


def _trust(ctx: Context) -> ssl.SSLContext | CheckResult:
    s = ctx.settings
    if s.public_ca is not None:
        return ssl.create_default_context(cafile=str(s.public_ca))
    if s.public_tls != "internal":
        return ssl.create_default_context()
    if ctx.remote is None:
        return skipped("Caddy's internal CA needs NYXOPS_HOST (its root is read there) or NYXOPS_PUBLIC_CA")
    read = f'{find_container(s.compose_project, "proxy")}; [ -n "$c" ] && docker exec "$c" cat {CADDY_ROOT}'
    try:
        root = ctx.remote.run(["sh", "-c", read], timeout=30)
    except RemoteError as exc:
        return unavailable(f"the proxy's internal CA root could not be read: {exc}")
    with tempfile.NamedTemporaryFile("w", suffix=".crt") as pem:
        pem.write(root)
        pem.flush()
        return ssl.create_default_context(cafile=pem.name)


def run(ctx: Context) -> CheckResult:
    s = ctx.settings
    if not s.public_url:
        return skipped("no public URL (NYXOPS_PUBLIC_URL, e.g. https://nyxcore.cloud)")
    trust = _trust(ctx)
    if not isinstance(trust, ssl.SSLContext):
        return trust
    domain = urlsplit(s.public_url).hostname or ""
    target = s.public_address or domain
    https = f"https://{target}{s.health_path}"
    sni = {"sni_hostname": domain} if s.public_address else {}
    headers = {"host": domain}
    try:
        with httpx.Client(verify=trust, timeout=15) as client:
            answer = client.get(https, headers=headers, extensions=sni)
            redirect = client.get(f"http://{target}{s.health_path}", headers=headers)
    except httpx.HTTPError as exc:
        return unavailable(f"{s.public_url}{s.health_path} unreachable: {exc.__class__.__name__}: {exc}")
    location = redirect.headers.get("location", "")
    figures = {"status": answer.status_code, "ms": round(answer.elapsed.total_seconds() * 1000, 1),
               "http_status": redirect.status_code, "redirect": location}  # fmt: skip
    if not answer.is_success:
        return unavailable(f"{s.public_url}{s.health_path} answered {answer.status_code}", **figures)
    if redirect.status_code not in (301, 302, 307, 308) or not location.startswith(f"https://{domain}"):
        return failed(f"http://{domain} does not redirect to https (answered {redirect.status_code})", **figures)
    return passed(f"{s.public_url}{s.health_path} answered {answer.status_code} over HTTPS; http redirects", **figures)
