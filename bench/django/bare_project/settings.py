"""django-cfg 1.7.87's RPCProxyView alone in a bare Django: no middleware, no database; installed
apps are the handler's app plus auth and contenttypes, which the view's package imports need.
The cheapest way to serve the seed's proxy view."""

SECRET_KEY = "bench-only-not-secret-0123456789-0123456789-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "axes", "django_cfg.apps.integrations.centrifugo", "echo_rpc"]
MIDDLEWARE = []
ROOT_URLCONF = "bare_project.urls"
DATABASES = {}
USE_TZ = True
