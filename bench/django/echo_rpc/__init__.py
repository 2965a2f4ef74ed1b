"""The echo RPC handler for the django-cfg benchmark projects (see handlers.py)."""
