"""Turning configurations and architectures into tensors and graphs."""
