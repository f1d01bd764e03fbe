"""Plumbing below the areas: files, tables, git, dvc.lock, MLflow tracking, model files."""
