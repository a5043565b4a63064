"""Stage ``host``: packages, Docker and compose, the deploy user, firewall, security upgrades, disk guard."""

from __future__ import annotations

from io import StringIO

from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, files, server

from deploys.common import data
from nyxops.deploy.hostdata import HostData
from nyxops.deploy.operations import prune_if_full

BASE_PACKAGES = ["ca-certificates", "curl", "gnupg", "git", "nftables", "unattended-upgrades", "sudo"]
DOCKER_PACKAGES = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin", "docker-compose-plugin"]
DEBIAN_PACKAGES = ["docker.io", "docker-compose"]
AUTO_UPGRADES = 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n'


def nftables_rules(d: HostData) -> str:
    """Admit only SSH, HTTP and HTTPS (and loopback, and replies) to the host; drop the rest.

    nyxops owns one table and nothing else: the file declares it, deletes it and defines it again,
    which ``nft -f`` applies as one transaction. Never ``flush ruleset``: that wipes the tables
    Docker keeps through iptables-nft, and the next container with a published port fails to start.
    """
    ports = ", ".join(str(p) for p in sorted(set(d.firewall_ports)))
    return (
        "#!/usr/sbin/nft -f\n# Written by nyxops (deploys/host.py). Edit the host data, not this file.\n"
        "# Only table inet nyxops is ours; Docker's tables (ip nat, ip filter) are left alone.\n"
        "table inet nyxops\ndelete table inet nyxops\n\ntable inet nyxops {\n"
        "    chain input {\n        type filter hook input priority 0; policy drop;\n"
        "        iif lo accept\n        ct state established,related accept\n        ct state invalid drop\n"
        "        meta l4proto { icmp, ipv6-icmp } accept\n"
        f"        tcp dport {{ {ports} }} accept\n    }}\n}}\n"
    )


def _docker_repository() -> None:
    distro = host.get_fact(LinuxDistribution)
    meta = distro.get("release_meta") or {}
    name, codename = str(meta.get("ID", "debian")), str(meta.get("VERSION_CODENAME", "bookworm"))
    files.directory(name="Keyrings folder", path="/etc/apt/keyrings", mode="755")
    files.download(
        name="Docker's apt key",
        src=f"https://download.docker.com/linux/{name}/gpg",
        dest="/etc/apt/keyrings/docker.asc",
        mode="644",
    )
    repo = apt.repo(
        name="Docker's apt repository",
        src=f"deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/{name} {codename} stable",
        filename="docker",
    )
    apt.update(name="Refresh apt lists after adding Docker's repository", _if=repo.did_change)
    apt.packages(name="Docker engine and compose plugin", packages=DOCKER_PACKAGES, no_recommends=True)


@deploy("host")
def host_stage() -> None:
    d = data()
    apt.update(name="Refresh apt lists (at most hourly)", cache_time=3600)
    apt.packages(name="Base packages", packages=BASE_PACKAGES, no_recommends=True)
    if d.docker_source == "docker":
        _docker_repository()
    else:
        apt.packages(name="Docker engine and compose (Debian)", packages=DEBIAN_PACKAGES, no_recommends=True)
    server.user(
        name=f"Deploy user {d.deploy_user}", user=d.deploy_user, groups=["docker"], shell="/bin/bash", create_home=True
    )
    rules = files.put(name="Firewall rules", src=StringIO(nftables_rules(d)), dest="/etc/nftables.conf", mode="755")
    if d.firewall_apply:
        server.shell(name="Load firewall rules", commands=["nft -f /etc/nftables.conf"], _if=rules.did_change)
    # What `systemctl enable nftables` does (its unit is WantedBy=sysinit.target), without asking a
    # running systemd: the same link on a VM, and on a host whose PID 1 is not systemd.
    files.link(
        name="Firewall at boot",
        path="/etc/systemd/system/sysinit.target.wants/nftables.service",
        target="/lib/systemd/system/nftables.service",
    )
    files.put(
        name="Unattended security upgrades",
        src=StringIO(AUTO_UPGRADES),
        dest="/etc/apt/apt.conf.d/20auto-upgrades",
        mode="644",
    )
    prune_if_full(name="Disk guard", threshold=d.disk_threshold, cache_age=d.prune_cache_age)
