"""The facilitation services: participation, prompts, questions, nudges, digest."""
