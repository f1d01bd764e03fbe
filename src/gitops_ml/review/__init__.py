"""The pull-request review: the report against the base revision and its quality gate."""
