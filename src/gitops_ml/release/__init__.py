"""Releasing models: registration, the champion rule, promotion, rollback, model cards."""
