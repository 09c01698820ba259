"""S3 file fields (docs/contract.md §6): object keys stored in one canonical form, read back as presigned GETs.

Writes accept a key or any URL of the project's bucket — virtual-hosted or path-style, regional or
global, the local endpoint, signed or not — and store the key. Other hosts, other buckets and keys
outside the field's prefixes are refused. Nothing here calls AWS at import; signing is local.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from dataapi.errors import Unavailable, WrongValueType
from dataapi.registry import ColumnInfo, Registry
from dataapi.settings import Settings
from dataapi.telemetry import logger

_VIRTUAL = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-][a-z0-9.-]+)?\.amazonaws\.com$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PATH = re.compile(r"^s3(?:[.-][a-z0-9.-]+)?\.amazonaws\.com$")


def object_key(value: str, bucket: str, endpoint: str | None) -> str | None:
    """The key `value` names in `bucket`, or None when it names anything else."""
    if "://" not in value:
        key = value
    else:
        url = urlsplit(value)
        host = (url.hostname or "").lower()
        path = unquote(url.path).lstrip("/")
        local = urlsplit(endpoint).netloc.lower() if endpoint else None
        if url.scheme == "s3":
            found, key = url.netloc, unquote(url.path).lstrip("/")
        elif url.scheme not in ("http", "https"):
            return None
        elif (m := _VIRTUAL.match(host)) is not None:
            found, key = m.group("bucket"), path
        elif _PATH.match(host) or (local is not None and url.netloc.lower() == local):
            found, _, key = path.partition("/")
        elif local is not None and host.endswith("." + (urlsplit(endpoint or "").hostname or "")):
            found, key = host.split(".", 1)[0], path
        else:
            return None
        if found != bucket:
            return None
    key = key.lstrip("/")
    if not key or any(part in ("", ".", "..") for part in key.split("/")) or _CONTROL.search(key):
        return None  # control characters (NUL, CR, LF) name no object this application stores
    return key


def under(key: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    return any(key.startswith(p) for p in prefixes)


class Files:
    """The project's bucket as this container sees it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bucket = settings.files_bucket

    @property
    def configured(self) -> bool:
        return bool(self.bucket)

    @property
    def client(self) -> Any:
        return _s3(self.settings.aws_region, self.settings.s3_endpoint_url)

    def key(self, value: Any) -> str | None:
        if not isinstance(value, str) or not self.bucket:
            return None
        return object_key(value.strip(), self.bucket, self.settings.s3_endpoint_url)

    # ---- writes ---------------------------------------------------------------------------

    def canonical(self, col: ColumnInfo, value: Any, at: str) -> Any:
        """The value to store for a file column: keys of our bucket under the field's prefixes."""
        spec = col.file
        if value is None or spec is None:
            return value
        if not self.configured:
            logger.warning("file field stored as sent: no bucket configured", extra={"field": col.key})
            return value
        if spec.many:
            if not isinstance(value, list):
                raise WrongValueType(
                    f"'{col.key}' takes a list of file keys or URLs.", at=at, detail=f"field={col.key}"
                )
            return [self._one(col, v, f"{at}/{i}") for i, v in enumerate(value)]
        return self._one(col, value, at)

    def _one(self, col: ColumnInfo, value: Any, at: str) -> str:
        key = self.key(value)
        prefixes = col.file.prefixes if col.file else ()
        if key is None or not under(key, prefixes):
            raise WrongValueType(
                f"'{col.key}' takes keys or URLs of this application's bucket under {', '.join(prefixes)}.",
                at=at,
                detail=f"field={col.key} file",
            )
        return key

    # ---- reads ----------------------------------------------------------------------------

    def sign_get(self, key: str) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        return self._presigned("get_object", params, self.settings.get_url_seconds)

    def sign_put(self, key: str, content_type: str) -> str:
        params = {"Bucket": self.bucket, "Key": key, "ContentType": content_type}
        return self._presigned("put_object", params, self.settings.put_url_seconds)

    def _presigned(self, operation: str, params: dict[str, Any], seconds: int) -> str:
        """Signing is local, but needs credentials: none found (or their endpoint unreachable) is
        the file storage unavailable, a 503 naming S3."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.generate_presigned_url(operation, Params=params, ExpiresIn=seconds)
        except (BotoCoreError, ClientError) as exc:
            logger.exception("S3 signing failed")
            raise Unavailable(
                "The file storage (S3) cannot sign URLs right now; try again shortly.",
                detail=f"S3 {type(exc).__name__}",
            ) from None

    def sign_value(self, value: Any) -> Any:
        """Stored file value -> presigned GET URL(s); values rows of the old backend stored as URLs too."""
        if isinstance(value, list):
            return [self.sign_value(v) for v in value]
        key = self.key(value)
        return self.sign_get(key) if key is not None else value


def declared_prefixes(registry: Registry) -> tuple[str, ...]:
    return tuple(
        sorted(
            {
                p
                for m in registry.models.values()
                for c in m.columns.values()
                if c.file
                for p in c.file.prefixes
            }
        )
    )


@lru_cache(maxsize=4)
def _s3(region: str, endpoint: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint else "virtual"}),
    )
