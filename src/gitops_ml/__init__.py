"""gitops-ml: a GitOps repository template for machine learning."""

__version__ = "0.1.0"
