"""The local lab: a virtual cluster of real Debian systemd hosts (systemd-nspawn) on one machine.

The lab is the embedded default stack, named `lab`. Each node boots a full systemd in its own network
namespace behind a host bridge in 198.18.0.0/15, is reached over SSH with a generated key, and reaches the
package archive through the host's NAT only. See README.md ("The local lab").
"""
