"""Settings from the environment, validated once per container (cold start), with local defaults.

Nothing here calls AWS: with only DATABASE_URL set every handler imports and serves.
"""

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, field_validator

LOCAL_ORIGINS = ("http://localhost:5173", "https://localhost:5173", "http://127.0.0.1:4173")


class Settings(BaseModel):
    database_url: str = "postgresql+pg8000://postgres@127.0.0.1:5432/dataapi"
    # In AWS: RDS Proxy with IAM authentication (DB_HOST, DB_USER, DB_NAME), or a Secrets Manager secret.
    db_host: str | None = None
    db_port: int = 5432
    db_user: str = "app"
    db_name: str | None = None
    db_secret_arn: str | None = None
    statement_timeout_ms: int = Field(10_000, gt=0)
    # How long an Idempotency-Key's answer (and a scheduled run's run_id) is replayed.
    idempotency_ttl_hours: int = Field(24, gt=0, le=24 * 366)
    max_per_page: int = Field(1000, gt=0)
    max_response_bytes: int = Field(5 * 1024 * 1024, gt=0)
    max_batch: int = Field(100, gt=0)
    max_rows_per_list: int = Field(5000, gt=0)
    max_rows_touched: int = Field(10_000, gt=0)
    max_depth: int = Field(8, gt=0)
    # The raw body, checked before it is parsed: json.loads of N bytes holds many times N in objects.
    max_body_bytes: int = Field(2 * 1024 * 1024, gt=0)
    # delete-image-url: S3's DeleteObjects takes at most 1,000 keys in one call.
    max_file_urls: int = Field(500, gt=0, le=1000)
    max_upload_entries: int = Field(100, gt=0)  # generate-presigned-url: each answer ~0.6 KB
    # Request shape limits, checked before any SQL (dataapi.limits).
    max_body_depth: int = Field(64, gt=0)
    max_filter_conditions: int = Field(200, gt=0)
    max_filter_depth: int = Field(8, gt=0)
    max_filter_values: int = Field(20_000, gt=0, le=60_000)  # one statement binds at most 65,535
    max_list_values: int = Field(5000, gt=0)
    max_path_parts: int = Field(12, gt=0)
    max_order_by: int = Field(5, gt=0)
    max_to_many_depth: int = Field(3, gt=0)
    max_requested_relationships: int = Field(40, gt=0)
    db_connect_timeout_ms: int = Field(3000, gt=0)
    db_socket_timeout_ms: int | None = Field(None, gt=0)  # default: statement timeout + 2 s
    files_bucket: str | None = None
    aws_region: str = "eu-north-1"
    s3_endpoint_url: str | None = None  # moto_server locally; AWS otherwise
    # Presigned GETs die with the signer's credentials anyway.
    get_url_seconds: int = Field(3600, gt=0, le=43200)
    put_url_seconds: int = Field(300, gt=0, le=3600)
    upload_types: tuple[str, ...] = (
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/avif",
    )
    cors_origins: tuple[str, ...] = LOCAL_ORIGINS
    # `sam local start-api` skips Cognito authorizers: then the handlers verify the bearer token.
    verify_token_in_handler: bool = False
    cognito_issuer: str | None = None
    cognito_jwks_url: str | None = None
    cognito_app_client_id: str | None = None
    cognito_user_pool_id: str | None = None
    # Status of a policy refusal (errors.PolicyRefusal); rejected tokens and ended sessions stay 403.
    policy_refusal_status: Literal[400, 403, 409, 422] = 403
    # Overrides of the file fields' prefixes (models declare the defaults): "Item.images=photos/,...".
    file_prefixes: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    password_policy: str = "at least 10 characters, with upper- and lower-case letters, a number and a symbol"
    password_minimum_length: int = Field(10, gt=0)  # the pool's; checked by the legacy sign-in trigger

    @field_validator("policy_refusal_status", mode="before")
    @classmethod
    def _status(cls, value: object) -> object:
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value

    @field_validator("file_prefixes", mode="before")
    @classmethod
    def _prefixes(cls, value: object) -> object:
        """`Model.field=prefix/` pairs, comma-separated; a field named twice has two prefixes."""
        if not isinstance(value, str):
            return value
        found: dict[str, tuple[str, ...]] = {}
        for pair in filter(None, (p.strip() for p in value.split(","))):
            field, sep, prefix = (part.strip() for part in pair.partition("="))
            folder = prefix.strip("/")
            if (
                not sep
                or "." not in field
                or not folder
                or any(s in ("", ".", "..") for s in folder.split("/"))
            ):
                raise ValueError(f"FILE_PREFIXES takes Model.field=prefix/ pairs, not {pair!r}")
            found[field] = (*found.get(field, ()), folder + "/")
        return found

    @property
    def socket_timeout_ms(self) -> int:
        """Reads wait past the statement timeout, so a slow query answers with its own error first."""
        return self.db_socket_timeout_ms or self.statement_timeout_ms + 2000

    @field_validator("cors_origins", "upload_types", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip() for o in value.split(",") if o.strip())
        return value


ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "db_host": "DB_HOST",
    "db_port": "DB_PORT",
    "db_user": "DB_USER",
    "db_name": "DB_NAME",
    "db_secret_arn": "DB_SECRET_ARN",
    "statement_timeout_ms": "STATEMENT_TIMEOUT_MS",
    "idempotency_ttl_hours": "IDEMPOTENCY_TTL_HOURS",
    "max_per_page": "MAX_PER_PAGE",
    "max_response_bytes": "MAX_RESPONSE_BYTES",
    "max_batch": "MAX_BATCH",
    "max_rows_per_list": "MAX_ROWS_PER_LIST",
    "max_rows_touched": "MAX_ROWS_TOUCHED",
    "max_depth": "MAX_DEPTH",
    "max_body_bytes": "MAX_BODY_BYTES",
    "max_file_urls": "MAX_FILE_URLS",
    "max_upload_entries": "MAX_UPLOAD_ENTRIES",
    "max_body_depth": "MAX_BODY_DEPTH",
    "max_filter_conditions": "MAX_FILTER_CONDITIONS",
    "max_filter_depth": "MAX_FILTER_DEPTH",
    "max_filter_values": "MAX_FILTER_VALUES",
    "max_list_values": "MAX_LIST_VALUES",
    "max_path_parts": "MAX_PATH_PARTS",
    "max_order_by": "MAX_ORDER_BY",
    "max_to_many_depth": "MAX_TO_MANY_DEPTH",
    "max_requested_relationships": "MAX_REQUESTED_RELATIONSHIPS",
    "db_connect_timeout_ms": "DB_CONNECT_TIMEOUT_MS",
    "db_socket_timeout_ms": "DB_SOCKET_TIMEOUT_MS",
    "files_bucket": "FILES_BUCKET",
    "aws_region": "AWS_REGION",
    "s3_endpoint_url": "AWS_ENDPOINT_URL",
    "get_url_seconds": "GET_URL_SECONDS",
    "put_url_seconds": "PUT_URL_SECONDS",
    "upload_types": "UPLOAD_TYPES",
    "cors_origins": "CORS_ALLOWED_ORIGINS",
    "verify_token_in_handler": "VERIFY_TOKEN_IN_HANDLER",
    "cognito_issuer": "COGNITO_ISSUER",
    "cognito_jwks_url": "COGNITO_JWKS_URL",
    "cognito_app_client_id": "COGNITO_APP_CLIENT_ID",
    "cognito_user_pool_id": "COGNITO_USER_POOL_ID",
    "password_policy": "PASSWORD_POLICY",
    "password_minimum_length": "PASSWORD_MINIMUM_LENGTH",
    "policy_refusal_status": "POLICY_REFUSAL_STATUS",
    "file_prefixes": "FILE_PREFIXES",
}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    # Fallbacks the AWS SDKs also honour: Lambda sets AWS_REGION; locally AWS_DEFAULT_REGION may be all.
    env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", ""))
    env.setdefault("AWS_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL_S3", ""))
    return Settings.model_validate({field: env[name] for field, name in ENV_NAMES.items() if env.get(name)})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
