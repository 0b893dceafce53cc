"""`python -m zkai.node ...`: the node's commands without the rest of the `zkai` CLI."""

from zkai.node.cli import node_app

node_app(prog_name="zkai node")
