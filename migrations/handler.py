"""The migration function: Alembic in AWS through the layer's own connection code (RDS Proxy with
IAM tokens, or a secret), as a CloudFormation custom resource on every deploy, and by direct invoke
for `make migrate-aws` ({"action": "upgrade"}) and `make bootstrap-admin` ({"action": "bootstrap-admin"}).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from dataapi.db.engine import get_engine
from dataapi.telemetry import logger

HERE = Path(__file__).resolve().parent


def upgrade() -> str:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["configure_logger"] = False
    with get_engine().begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return ScriptDirectory.from_config(config).get_current_head() or ""


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "RequestType" in event:
        return _custom_resource(event, context)
    action = event.get("action")
    if action == "upgrade":
        return {"revision": upgrade()}
    if action == "bootstrap-admin":
        from dataapi.ops.bootstrap import bootstrap_admin

        return bootstrap_admin(
            event["email"], event["password"], event.get("username", "admin"), event.get("phone", "-")
        )
    raise ValueError(f"unknown action {action!r} (use upgrade or bootstrap-admin)")


def _custom_resource(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Create/Update migrate to head; Delete keeps the data. Always answers CloudFormation."""
    status, reason, data = "SUCCESS", "", {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            data = {"Revision": upgrade()}
    except Exception as exc:  # the stack must hear about it, or it waits for an hour
        logger.exception("migration failed")
        status, reason = "FAILED", f"{type(exc).__name__}: see the function's log ({context.log_stream_name})"
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason or "ok",
            "PhysicalResourceId": event.get("PhysicalResourceId", "database-schema"),
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data,
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
    return {"Status": status, **data}
