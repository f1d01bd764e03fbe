"""Run the GitHub workflows locally with act and stand-ins (see docs/workflows.md)."""
