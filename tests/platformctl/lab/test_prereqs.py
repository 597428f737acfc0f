"""Missing host prerequisites are reported with the exact command that installs them."""

from platformctl.lab import prereqs


def test_fix_command_lists_each_package_once():
    tools = [
        prereqs.Tool("ssh", "openssh-client"),
        prereqs.Tool("ssh-keygen", "openssh-client"),
        prereqs.Tool("debootstrap", "debootstrap"),
    ]
    assert prereqs.fix_command(tools) == "apt-get update && apt-get install -y debootstrap openssh-client"


def test_missing_tools_finds_absent_commands_and_files(monkeypatch, tmp_path):
    present = tmp_path / "keyring.gpg"
    present.write_text("")
    monkeypatch.setattr(
        prereqs,
        "REQUIRED_TOOLS",
        (
            prereqs.Tool("sh", "dash"),
            prereqs.Tool("no-such-command-here", "pkg-a"),
            prereqs.Tool(str(present), "pkg-b"),
            prereqs.Tool(str(tmp_path / "absent.gpg"), "pkg-c"),
        ),
    )
    assert [t.package for t in prereqs.missing_tools()] == ["pkg-a", "pkg-c"]
