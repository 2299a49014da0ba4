"""Training entry points; each writes weights and a model card."""
