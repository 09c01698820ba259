"""template.yaml as the local tools read it: the API routes and the gateway responses.

The local gateway routes exactly what the template routes: every AWS::Serverless::Function event
of type Api, authorised unless the event says `Auth: {Authorizer: NONE}` (or its API has no
default authorizer). Gateway responses come from the API's `GatewayResponses` and from
`x-amazon-apigateway-gateway-responses` in its inline `DefinitionBody` (where the response whose
status is a template parameter lives); `Ref`/`Fn::Sub` of parameters resolve to their defaults
unless overridden.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

# API Gateway's own status for each gateway response type (used when the template leaves one out:
# then DEFAULT_4XX / DEFAULT_5XX shape it, as in AWS).
DEFAULT_STATUS = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_BODY": 400,
    "BAD_REQUEST_PARAMETERS": 400,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 500,
    "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
}


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short tags as their long form (plain data)."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _short_tag)


def load_template(path: Path | str = TEMPLATE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # CfnLoader is a SafeLoader


@dataclass(frozen=True)
class Route:
    method: str  # upper case; ANY matches every method
    path: str  # as in the template, e.g. /api/schemes/get_items or /files/{key+}
    code_uri: str  # relative to the template's directory
    handler: str  # module.function
    authorized: bool
    function: str = ""  # logical id of the function
    timeout: int = 3
    memory_size: int = 128


@dataclass(frozen=True)
class GatewayResponse:
    type: str
    status: int
    template: str  # the application/json response template
    headers: dict[str, str] = field(default_factory=dict)  # static header values, quotes removed

    def render(self, request_id: str, error_message: str = "") -> str:
        """The body API Gateway would send (the templates use only $context variables)."""
        return (
            self.template.replace("$context.requestId", request_id)
            .replace("$context.error.responseType", self.type)
            .replace("$context.error.messageString", '"' + error_message.replace('"', '\\"') + '"')
            .replace("$context.error.message", error_message)
        )


def parameter_values(template: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Parameter defaults (as strings) plus overrides plus the pseudo parameters, for local use."""
    values = {
        "AWS::Region": os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "eu-north-1",
        "AWS::AccountId": "000000000000",
        "AWS::StackName": "dataapi-local",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    for name, spec in (template.get("Parameters") or {}).items():
        if "Default" in spec:
            values[name] = str(spec["Default"])
    values.update({k: str(v) for k, v in (overrides or {}).items()})
    return values


_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def resolve(value: Any, params: dict[str, str]) -> Any:
    """Resolve Ref and Fn::Sub of parameters; anything it cannot resolve is returned unchanged."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and isinstance(arg, str) and arg in params:
            return params[arg]
        if key == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            scope = {**params, **{k: resolve(v, params) for k, v in local.items()}}

            def sub(m: re.Match[str]) -> str:
                found = scope.get(m.group(1))
                return found if isinstance(found, str) else m.group(0)

            return _SUB.sub(sub, text).replace("${!", "${")
    if isinstance(value, dict):
        return {k: resolve(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params) for v in value]
    return value


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in (template.get("Resources") or {}).items() if r.get("Type") == kind}


def _api_has_default_authorizer(template: dict[str, Any], api_id: str | None) -> bool:
    global_auth = ((template.get("Globals") or {}).get("Api") or {}).get("Auth") or {}
    api = _resources(template, "AWS::Serverless::Api").get(api_id or "")
    auth = ((api or {}).get("Properties") or {}).get("Auth") or global_auth
    return bool(auth.get("DefaultAuthorizer"))


def routes(template: dict[str, Any] | None = None) -> list[Route]:
    """Every Api event of every AWS::Serverless::Function, in template order."""
    template = load_template() if template is None else template
    defaults = (template.get("Globals") or {}).get("Function") or {}
    found = []
    for name, resource in _resources(template, "AWS::Serverless::Function").items():
        props = {**defaults, **(resource.get("Properties") or {})}
        for event in (props.get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            ev = event.get("Properties") or {}
            rest_api = ev.get("RestApiId")
            api_id = rest_api.get("Ref") if isinstance(rest_api, dict) else rest_api
            authorizer = (ev.get("Auth") or {}).get("Authorizer")
            if authorizer is None:
                authorized = _api_has_default_authorizer(template, api_id)
            else:
                authorized = authorizer != "NONE"
            method = str(ev["Method"]).upper()
            found.append(
                Route(
                    method="ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method,
                    path=str(ev["Path"]),
                    code_uri=str(props.get("CodeUri", ".")),
                    handler=str(props["Handler"]),
                    authorized=authorized,
                    function=name,
                    timeout=int(props.get("Timeout", 3)),
                    memory_size=int(props.get("MemorySize", 128)),
                )
            )
    return found


def api_resource(template: dict[str, Any], name: str | None = None) -> tuple[str, dict[str, Any]]:
    """The (logical id, resource) of the named AWS::Serverless::Api, or of the only/first one."""
    apis = _resources(template, "AWS::Serverless::Api")
    if not apis:
        raise LookupError("template.yaml defines no AWS::Serverless::Api")
    key = name or next(iter(apis))
    return key, apis[key]


def _static(value: Any) -> str | None:
    """A static mapping value ('text') without its quotes; None for request mappings."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return None


def gateway_responses(
    template: dict[str, Any] | None = None,
    *,
    api: str | None = None,
    parameters: dict[str, str] | None = None,
) -> dict[str, GatewayResponse]:
    """Gateway response type -> status, JSON template and static headers, parameters resolved."""
    template = load_template() if template is None else template
    params = parameter_values(template, parameters)
    props = api_resource(template, api)[1].get("Properties") or {}
    out: dict[str, GatewayResponse] = {}
    body = props.get("DefinitionBody") or {}
    for kind, spec in (body.get("x-amazon-apigateway-gateway-responses") or {}).items():
        spec = resolve(spec, params)
        prefix = "gatewayresponse.header."
        headers = {
            k[len(prefix) :]: v
            for k, raw in (spec.get("responseParameters") or {}).items()
            if k.startswith(prefix) and (v := _static(raw)) is not None
        }
        out[kind] = GatewayResponse(
            type=kind,
            status=int(spec.get("statusCode", DEFAULT_STATUS.get(kind, 500))),
            template=str((spec.get("responseTemplates") or {}).get("application/json", "")),
            headers=headers,
        )
    for kind, spec in (props.get("GatewayResponses") or {}).items():
        spec = resolve(spec, params)
        headers = {
            k: v
            for k, raw in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items()
            if (v := _static(raw)) is not None
        }
        out[kind] = GatewayResponse(
            type=kind,
            status=int(spec.get("StatusCode", DEFAULT_STATUS.get(kind, 500))),
            template=str((spec.get("ResponseTemplates") or {}).get("application/json", "")),
            headers=headers,
        )
    return out


def gateway_response(responses: dict[str, GatewayResponse], kind: str) -> GatewayResponse:
    """The response API Gateway uses for a type: its own, else DEFAULT_4XX/5XX with its status."""
    if kind in responses:
        return responses[kind]
    status = DEFAULT_STATUS.get(kind, 500)
    fallback = responses.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
    if fallback is None:
        message = '{"message": "' + kind + '"}'
        return GatewayResponse(type=kind, status=status, template=message)
    return GatewayResponse(type=kind, status=status, template=fallback.template, headers=fallback.headers)
