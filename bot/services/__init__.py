"""The facilitation services: participation, themes, prompts, recognition, nudges, digest."""
