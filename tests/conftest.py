"""Shared test setup: every test gets its own SQLite file under tmp_path; nothing leaves 127.0.0.1."""
