"""Settings exactly as django-cfg generates them (its docs' settings.py)."""
from pathlib import Path

from .config import config

BASE_DIR = Path(__file__).resolve().parent.parent
globals().update(config.get_all_settings())
ROOT_URLCONF = "full_project.urls"
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
