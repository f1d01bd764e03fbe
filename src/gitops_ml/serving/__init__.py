"""Serving the model: the HTTP API and batch scoring of files."""
