"""`pulumi up` entry point. So far the program only validates the stack's config and exports it; the
Ansible node layer and the Kubernetes platform layer come with the Pulumi issue (see README)."""

import pulumi

from infra import config

stack = config.load()
pulumi.export("clusterName", stack.cluster_name)
pulumi.export("ansibleInventory", stack.ansible_inventory)
pulumi.export("etcdMembers", stack.etcd_members)
