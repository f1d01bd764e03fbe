"""Monitoring: drift of a current batch against the training reference, and its reports."""
