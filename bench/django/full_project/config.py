"""A django-cfg 1.7.87 project as its docs set one up (getting-started/first-project and
integrations/centrifugo/setup): DjangoConfig defaults (production mode, DEBUG off, django-cfg's
default apps and middleware), SQLite, Centrifugo enabled, the echo handler's app as the project
app. The SQLite file is bench/.django/full.sqlite3 (ignored), or DATABASE_PATH."""
import os
from pathlib import Path
from typing import Dict, Optional

from django_cfg import DatabaseConfig, DjangoConfig
from django_cfg.apps.integrations.centrifugo.services.client.config import DjangoCfgCentrifugoConfig


# django-cfg drops the leading "/" of an absolute sqlite:/// path, so hand it a relative one.
_DB = os.path.relpath(os.environ.get("DATABASE_PATH") or Path(__file__).resolve().parents[2] / ".django" / "full.sqlite3")


class BenchConfig(DjangoConfig):
    project_name: str = "plughost bench"
    secret_key: str = "bench-only-not-secret-0123456789-0123456789-0123456789"
    security_domains: list[str] = ["localhost", "127.0.0.1"]
    databases: Dict[str, DatabaseConfig] = {
        "default": DatabaseConfig.from_url(url="sqlite:///" + _DB),
    }
    project_apps: list[str] = ["echo_rpc"]
    centrifugo: Optional[DjangoCfgCentrifugoConfig] = DjangoCfgCentrifugoConfig(
        enabled=True,
        centrifugo_url="ws://127.0.0.1:8000/connection/websocket",
        centrifugo_api_url="http://127.0.0.1:8000/api",
        centrifugo_api_key="bench-only-api-key-0123456789-0123456789",
        centrifugo_token_hmac_secret="bench-only-hmac-secret-0123456789-0123456789",
    )


config = BenchConfig()
