"""Lab networking: one host bridge per lab, one network namespace and veth pair per node, NAT egress.

Egress from nodes is limited to what provisioning needs: DNS to the host's resolvers and HTTP(S) to the
package archive. Every rule carries the lab's comment so teardown removes exactly what this lab added.
"""

from __future__ import annotations

import ipaddress
import shlex
from pathlib import Path

from platformctl.lab.config import LabConfig
from platformctl.lab.shell import LabError, run, succeeds

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def host_nameservers() -> list[str]:
    """Resolvers the nodes can use: the host's, unless they are loopback stubs a namespace cannot reach."""
    servers = []
    for line in Path("/etc/resolv.conf").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            addr = ipaddress.ip_address(parts[1])
            if addr.version == 4 and not addr.is_loopback:
                servers.append(parts[1])
    if not servers:
        raise LabError(
            "/etc/resolv.conf has no non-loopback IPv4 nameserver the lab nodes can reach; "
            "add one (e.g. the upstream resolver your stub forwards to)"
        )
    return servers


def _link_exists(name: str, netns: str | None = None) -> bool:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return succeeds([*prefix, "link", "show", name])


def _netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def _rules(lab: LabConfig) -> list[tuple[str, list[str]]]:
    """(table, rule spec) pairs for this lab, each tagged with the lab's comment."""
    tag = ["-m", "comment", "--comment", lab.nat_comment]
    subnet, bridge = str(lab.subnet), lab.bridge
    rules: list[tuple[str, list[str]]] = [
        ("nat", ["POSTROUTING", "-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE", *tag]),
        (
            "filter",
            [
                "FORWARD",
                "-o",
                bridge,
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
                *tag,
            ],
        ),
    ]
    for server in host_nameservers():
        for proto in ("udp", "tcp"):
            rules.append(
                (
                    "filter",
                    [
                        "FORWARD",
                        "-i",
                        bridge,
                        "-d",
                        server,
                        "-p",
                        proto,
                        "--dport",
                        "53",
                        "-j",
                        "ACCEPT",
                        *tag,
                    ],
                )
            )
    rules.append(
        (
            "filter",
            [
                "FORWARD",
                "-i",
                bridge,
                "!",
                "-o",
                bridge,
                "-p",
                "tcp",
                "-m",
                "multiport",
                "--dports",
                "80,443",
                "-j",
                "ACCEPT",
                *tag,
            ],
        )
    )
    rules.append(("filter", ["FORWARD", "-i", bridge, "!", "-o", bridge, "-j", "DROP", *tag]))
    return rules


def ensure_bridge(lab: LabConfig) -> None:
    if not _link_exists(lab.bridge):
        run(["ip", "link", "add", lab.bridge, "type", "bridge"])
    cidr = f"{lab.gateway}/{lab.subnet.prefixlen}"
    if cidr not in run(["ip", "-o", "addr", "show", "dev", lab.bridge]).stdout:
        run(["ip", "addr", "add", cidr, "dev", lab.bridge])
    run(["ip", "link", "set", lab.bridge, "up"])
    IP_FORWARD.write_text("1\n")
    for table, spec in _rules(lab):
        chain, rest = spec[0], spec[1:]
        if not succeeds(["iptables", "-w", "-t", table, "-C", chain, *rest]):
            # Insert (not append) so a host FORWARD policy or earlier DROP rule does not shadow the lab's.
            position = ["1"] if table == "filter" and "DROP" not in spec else []
            verb = "-I" if position else "-A"
            run(["iptables", "-w", "-t", table, verb, chain, *position, *rest])


def ensure_node_link(lab: LabConfig, node: str) -> None:
    ns, host_end, peer = lab.netns(node), lab.host_veth(node), lab.peer_veth(node)
    if not _netns_exists(ns):
        run(["ip", "netns", "add", ns])
    if not _link_exists("eth0", ns):
        if _link_exists(host_end):
            run(["ip", "link", "del", host_end])
        run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", peer])
        run(["ip", "link", "set", peer, "netns", ns])
        run(["ip", "-n", ns, "link", "set", peer, "name", "eth0"])
    run(["ip", "link", "set", host_end, "master", lab.bridge, "up"])
    cidr = f"{lab.node_ip(node)}/{lab.subnet.prefixlen}"
    if cidr not in run(["ip", "-n", ns, "-o", "addr", "show", "dev", "eth0"]).stdout:
        run(["ip", "-n", ns, "addr", "add", cidr, "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "route", "replace", "default", "via", lab.gateway])


def remove_node_link(lab: LabConfig, node: str) -> None:
    if _netns_exists(lab.netns(node)):
        run(["ip", "netns", "del", lab.netns(node)])
    # Deleting the namespace destroys the veth pair asynchronously: the link may vanish between the check
    # and the delete, so only a link that is still there afterwards is an error.
    if _link_exists(lab.host_veth(node)):
        proc = run(["ip", "link", "del", lab.host_veth(node)], check=False)
        if proc.returncode != 0 and _link_exists(lab.host_veth(node)):
            raise LabError(f"ip link del {lab.host_veth(node)}: {proc.stderr.strip()}")


def remove_bridge(lab: LabConfig) -> None:
    """Delete the lab's rules by their comment (whatever the resolvers were when added), then the bridge."""
    for table in ("nat", "filter"):
        listing = run(["iptables", "-w", "-t", table, "-S"]).stdout.splitlines()
        for line in listing:
            if lab.nat_comment in shlex.split(line):
                run(["iptables", "-w", "-t", table, "-D", *shlex.split(line)[1:]])  # [1:] drops "-A"
    if _link_exists(lab.bridge):
        run(["ip", "link", "del", lab.bridge])


def leftovers(lab: LabConfig) -> list[str]:
    """Every host object of this lab that still exists (for `lab status` and teardown tests)."""
    found = []
    if _link_exists(lab.bridge):
        found.append(f"link {lab.bridge}")
    for node in lab.node_names():
        if _netns_exists(lab.netns(node)):
            found.append(f"netns {lab.netns(node)}")
        if _link_exists(lab.host_veth(node)):
            found.append(f"link {lab.host_veth(node)}")
    for table in ("nat", "filter"):
        for line in run(["iptables", "-w", "-t", table, "-S"]).stdout.splitlines():
            if lab.nat_comment in shlex.split(line):
                found.append(f"iptables -t {table} {line}")
    return found
