"""Adapting the template: `gitops-ml init` and the reference pages generated from the code."""
