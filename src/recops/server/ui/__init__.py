"""Dashboard pages (Jinja2, server-rendered): one module per area, each with a ``router``."""
