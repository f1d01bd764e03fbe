"""The `gitops-ml` commands, one module per area; `commands.app` holds the app they join."""
