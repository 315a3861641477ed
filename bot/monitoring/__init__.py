"""Monitoring, evaluation and impact: knowledge map, shared knowledge, commitments, surveys, report.

Each module's commands, jobs, listeners and digest sections are registered in ``bot.features``.
"""
