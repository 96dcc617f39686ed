"""Responding: deployment gates, rollback, playbooks, incidents and post-mortems."""
