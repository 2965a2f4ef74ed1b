from django.urls import include, path

from django_cfg import add_django_cfg_urls

# The seed's address, /centrifugo/rpc/ (django-cfg itself also mounts it at /cfg/centrifugo/rpc/).
urlpatterns = add_django_cfg_urls([
    path("centrifugo/", include("django_cfg.apps.integrations.centrifugo.urls")),
])
