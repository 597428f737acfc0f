"""One module per component; each is a ComponentResource with a `gpu-platform:<module>:<Type>` token."""
