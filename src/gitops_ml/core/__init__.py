"""The rules of the project: params, schema, metrics, tables and the model spec.

Pure functions and types; the only files read here are params.yaml and schema.json.
"""
