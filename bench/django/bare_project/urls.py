from django.urls import path

from django_cfg.apps.integrations.centrifugo.views.rpc_proxy import RPCProxyView

urlpatterns = [path("centrifugo/rpc/", RPCProxyView.as_view())]
