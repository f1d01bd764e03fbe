"""The rules of the project: params, schema, metrics, tables and the model spec; no I/O."""
