"""The lab's firewall rules: node egress is DNS to the host's resolvers and HTTP(S), nothing else."""

import pytest

from platformctl.lab import network
from platformctl.lab.config import LabConfig
from platformctl.lab.shell import LabError

LAB = LabConfig("lab-net", 9, 3, "/repo")


def test_rules_allow_dns_and_http_then_drop_the_rest(monkeypatch):
    monkeypatch.setattr(network, "host_nameservers", lambda: ["198.51.100.53"])
    forward = [spec for table, spec in network._rules(LAB) if table == "filter"]
    assert forward[-1][-5:-4] == ["DROP"] or "DROP" in forward[-1]
    accepted = [" ".join(spec) for spec in forward if "ACCEPT" in spec]
    assert any("-d 198.51.100.53 -p udp --dport 53" in rule for rule in accepted)
    assert any("--dports 80,443" in rule for rule in accepted)
    assert all(LAB.nat_comment in spec for _, spec in network._rules(LAB))


def test_loopback_only_resolvers_are_refused_with_a_fix(monkeypatch, tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.53\n")
    real_path = network.Path
    monkeypatch.setattr(network, "Path", lambda p: resolv if p == "/etc/resolv.conf" else real_path(p))
    with pytest.raises(LabError, match="no non-loopback IPv4 nameserver"):
        network.host_nameservers()
