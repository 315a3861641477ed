"""Monitoring, evaluation and impact: knowledge map, shared knowledge, commitments, surveys, report."""
