"""Bare-metal GPU nodes: an Ansible inventory derived from the spec, and the roles that prepare the nodes."""
