from django.apps import AppConfig


class EchoRpcConfig(AppConfig):
    name = "echo_rpc"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The seed's pattern: importing the module runs the @websocket_rpc decorators.
        from . import handlers  # noqa: F401
