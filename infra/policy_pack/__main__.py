"""Policy pack entry point, run by the Pulumi CLI: `pulumi preview --policy-pack infra/policy_pack`.
The rules live in rules.py (importable without starting the analyzer's server)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the pack runs from its own directory

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy_pack.rules import POLICIES

PolicyPack(name="gpu-platform", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
