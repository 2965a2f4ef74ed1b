"""The component's `handler` export over the handler table. The build's entry module
imports the plugin's module (running its decorators), then this `Handler`."""

from componentize_py_types import Err
from wit_world.imports import types

from . import _plugin
from .conn import Conn, to_json_text
from .errors import RpcError


def _err(e: RpcError) -> Err:
    return Err(types.RpcError(e.code, e.message, e.temporary))


class Handler:
    def describe(self):
        info = _plugin.describe()
        return types.PluginInfo(
            [types.MethodInfo(m["name"], m["doc"], m["params_schema"], m["result_schema"])
             for m in info["methods"]],
            info["subscribe_namespaces"],
        )

    def call(self, ctx, method, params):
        try:
            return _plugin.run_method(Conn.from_wit(ctx), method, params)
        except RpcError as e:
            raise _err(e) from None

    def subscribe(self, ctx, channel, data):
        try:
            g = _plugin.run_subscribe(Conn.from_wit(ctx), channel, data)
            return types.SubscribeGrant(to_json_text(g.info), to_json_text(g.data), int(g.expire_at))
        except RpcError as e:
            raise _err(e) from None
        except (TypeError, ValueError) as e:
            raise _err(RpcError.internal(f"could not encode subscribe grant: {e}")) from None
