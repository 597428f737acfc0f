"""Role kubernetes on the RHEL 9 family: the pkgs.k8s.io rpm repository file rendered for RedHat facts,
excludes that keep `dnf upgrade` off the Kubernetes packages, and the per-family choice of install tasks."""

from __future__ import annotations

import configparser

import pytest

from smoke_tests.rolevars import playbook_group_vars
from tests.playbooks.roles.kubernetes.templating import (
    DEBIAN_FACTS,
    REDHAT_FACTS,
    exists,
    load_yaml,
    render,
    render_template,
    task,
)

PINS = playbook_group_vars()
MINOR = ".".join(PINS["pins_kubernetes_version"].split(".")[:2])


def repo_file(**overrides) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render_template("kubernetes.repo.j2", ansible_facts=REDHAT_FACTS, **overrides))
    assert parser.sections() == ["kubernetes"]
    return parser["kubernetes"]


def test_repository_is_the_rpm_tree_of_the_pinned_minor():
    repo = repo_file()
    assert repo["baseurl"] == f"https://pkgs.k8s.io/core:/stable:/v{MINOR}/rpm/"
    assert repo["gpgkey"] == f"https://pkgs.k8s.io/core:/stable:/v{MINOR}/rpm/repodata/repomd.xml.key"
    assert (repo["enabled"], repo["gpgcheck"]) == ("1", "1")
    assert repo["name"] == f"Kubernetes v{MINOR}"


def test_a_mirror_replaces_the_repository_and_its_key():
    repo = repo_file(kubernetes_repo_url="https://mirror.example.internal/k8s/rpm/")
    assert repo["baseurl"] == "https://mirror.example.internal/k8s/rpm/"
    assert repo["gpgkey"] == "https://mirror.example.internal/k8s/rpm/repodata/repomd.xml.key"


def test_dnf_upgrade_cannot_move_the_kubernetes_packages():
    assert {"kubelet", "kubeadm", "kubectl"} <= set(repo_file()["exclude"].split())
    install = task("install_repo_rpm.yml", "Install the pinned kubeadm, kubelet and kubectl")[
        "ansible.builtin.dnf"
    ]
    assert install["disable_excludes"] == "kubernetes"  # the section name of the repository file
    assert render(install["name"]) == [
        f"{p}-{PINS['pins_kubernetes_version']}" for p in ("kubeadm", "kubelet", "kubectl")
    ]


@pytest.mark.parametrize(
    ("facts", "tasks_file"), [(REDHAT_FACTS, "install_repo_rpm.yml"), (DEBIAN_FACTS, "install_repo_deb.yml")]
)
def test_install_tasks_are_chosen_per_os_family(facts, tasks_file):
    include = next(
        t for t in load_yaml("tasks/main.yml") if t["name"] == "Install kubeadm, kubelet and kubectl"
    )
    assert render(include["ansible.builtin.include_tasks"], ansible_facts=facts) == tasks_file
    assert exists(f"tasks/{tasks_file}")
    offline = render(
        include["ansible.builtin.include_tasks"], ansible_facts=facts, kubernetes_offline_dir="/bin"
    )
    assert offline == "install_offline.yml"


def test_redhat_prerequisites_run_on_redhat_only():
    include = next(
        t
        for t in load_yaml("tasks/main.yml")
        if t["name"] == "Prepare RHEL family hosts (SELinux, firewalld)"
    )
    assert include["when"] == "ansible_facts['os_family'] == 'RedHat'"
    selinux = task("prerequisites_redhat.yml", "Set SELinux for the kubelet")["ansible.posix.selinux"]
    assert render(selinux["state"]) == "permissive"  # kubeadm's install guide
