"""The DVC stages: prepare, train, evaluate and the optional tune (dvc.yaml runs them)."""
