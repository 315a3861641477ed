"""Commands, declared once and platform-neutral: specs, argument parsing, permissions, handlers."""
