"""Reading Ansible's recap, checked against the output of a real ansible-playbook run on localhost."""

import subprocess
import sys
from pathlib import Path

from platformctl import provision

PLAYBOOK = """\
- name: Recap probe
  hosts: all
  gather_facts: false
  tasks:
    - name: Always changes
      ansible.builtin.command: "true"
      changed_when: true
    - name: Never changes
      ansible.builtin.command: "true"
      changed_when: false
    - name: Skipped
      ansible.builtin.command: "true"
      when: false
"""


def test_recap_of_a_real_run(tmp_path):
    playbook = tmp_path / "probe.yml"
    playbook.write_text(PLAYBOOK)
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    out = subprocess.run(
        [
            str(ansible_playbook),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ],
        capture_output=True,
        text=True,
        env=provision.ansible_env(),
        check=True,
    ).stdout
    recap = provision.parse_recap(out)
    assert recap["localhost"]["changed"] == 1
    assert recap["localhost"]["ok"] == 2
    assert recap["localhost"]["skipped"] == 1
    assert recap["localhost"]["failed"] == 0


def test_failed_and_unreachable_hosts_are_reported():
    output = (
        "PLAY RECAP *********\n"
        "node1 : ok=3    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0\n"
        "node2 : ok=1    changed=1    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0\n"
        "node3 : ok=0    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0\n"
        "\nFriday 01 January  00:00:00 +0000 (0:00:00.1)\n"
    )
    result = provision.PlaybookResult("site.yml", 2, 1.0, Path("/dev/null"), provision.parse_recap(output))
    assert result.failed_hosts == ["node2", "node3"]
    assert result.changed == 1
    assert not result.ok
