"""Where the repository's parts live, resolved once."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS_DIR = REPO_ROOT / "playbooks"
STACKS_DIR = REPO_ROOT / "stacks"
SMOKE_TESTS_DIR = REPO_ROOT / "smoke_tests"
