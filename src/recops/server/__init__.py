"""The server: REST API, HTTP ingest, ``/metrics``, the scheduler and the dashboard.

Importing this package costs nothing: ``tokens`` needs only the store (the CLI's
``recops token`` uses it without the web stack); ``app`` pulls in FastAPI.
"""
