"""The file routes (docs/contract.md §6): presigned PUTs for uploads, and deletion of objects.

Both are all-or-nothing: every entry is checked first and one bad entry refuses the whole request
(400 listing them), so nothing is signed or deleted by halves. A prefix the caller's role has no
grant for is a policy denial (403).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr
from sqlalchemy import Text, cast, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from dataapi.boundary import parse_model
from dataapi.db.engine import transaction
from dataapi.errors import (
    BadGateway,
    BadRequest,
    MalformedRequest,
    NotConfigured,
    PolicyRefusal,
    Unavailable,
)
from dataapi.identity.authorize import Authorizer, for_caller
from dataapi.registry import default_registry
from dataapi.result import Result
from dataapi.settings import get_settings
from dataapi.storage.files import Files, declared_prefixes, under
from dataapi.telemetry import logger

_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "image/avif": ".avif",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fileName: StrictStr
    filePath: StrictStr
    fileType: StrictStr


class DeleteFilesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urls: list[StrictStr]


def _files() -> Files:
    files = Files(get_settings())
    if not files.configured:
        raise NotConfigured("File storage is not configured.", detail="NoBucket")
    return files


def presign(raw: Any, claims: dict[str, str]) -> Result:
    if not isinstance(raw, list) or not raw:
        raise MalformedRequest("The body is a non-empty list of {fileName, filePath, fileType}.", at="/")
    entries = [parse_model(UploadEntry, item, f"/{i}") for i, item in enumerate(raw)]
    files = _files()
    settings = get_settings()
    problems: list[str] = []
    seen: set[str] = set()
    declared = declared_prefixes(default_registry())
    for i, entry in enumerate(entries):
        if entry.fileName in seen:
            problems.append(f"/{i}/fileName: '{entry.fileName}' is sent twice")
        seen.add(entry.fileName)
        if entry.fileType not in settings.upload_types:
            problems.append(
                f"/{i}/fileType: '{entry.fileType}' is not one of {', '.join(settings.upload_types)}"
            )
        segments = entry.filePath.strip().strip("/").split("/")
        if not under(_folder(entry.filePath), declared) or any(p in ("", ".", "..") for p in segments):
            problems.append(f"/{i}/filePath: '{entry.filePath}' is not under {', '.join(declared)}")
        if not _stem(entry.fileName):
            problems.append(f"/{i}/fileName: '{entry.fileName}' has no usable characters")
    if problems:
        raise BadRequest("Nothing was signed: " + "; ".join(problems) + ".", at="/", detail="invalid entries")
    with transaction() as session:
        allowed = for_caller(session, claims).file_prefixes("presign", default_registry())
    denied = [f"/{i}/filePath" for i, e in enumerate(entries) if not under(_folder(e.filePath), allowed)]
    if denied:
        raise PolicyRefusal(
            f"You may not upload under {', '.join(sorted({entries[int(d.split('/')[1])].filePath for d in denied}))}.",
            at=denied[0],
            detail="prefix not granted",
        )
    body = []
    for entry in entries:
        key = f"{_folder(entry.filePath)}{_stem(entry.fileName)}-{uuid.uuid4().hex[:12]}{_EXTENSIONS.get(entry.fileType, '')}"
        body.append({"fileName": entry.fileName, "url": files.sign_put(key, entry.fileType)})
    return Result(200, "Upload URLs signed.", json.dumps(body))


def _folder(path: str) -> str:
    return path.strip().strip("/") + "/"


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return _UNSAFE.sub("-", base).strip("-._")[:80]


def delete_by_url(raw: Any, claims: dict[str, str]) -> Result:
    req = parse_model(DeleteFilesRequest, raw)
    if not req.urls:
        raise MalformedRequest("'urls' is empty.", at="/urls", detail="field=urls")
    files = _files()
    declared = declared_prefixes(default_registry())
    keys: list[str] = []
    problems: list[str] = []
    for i, url in enumerate(req.urls):
        key = files.key(url)
        if key is None or not under(key, declared):
            problems.append(
                f"/urls/{i}: not an object of this application's bucket under {', '.join(declared)}"
            )
        else:
            keys.append(key)
    if problems:
        raise BadRequest(
            "Nothing was deleted: " + "; ".join(problems) + ".", at="/urls", detail="invalid entries"
        )
    with transaction() as session:
        auth = for_caller(session, claims)
        allowed = auth.file_prefixes("delete", default_registry())
        for i, key in enumerate(keys):
            if not under(key, allowed):
                problems.append(f"/urls/{i}: you may not delete under this prefix")
            elif not _may_change_owners(session, files, auth, key):
                problems.append(f"/urls/{i}: a row you may not change still uses it")
    if problems:
        raise BadRequest(
            "Nothing was deleted: " + "; ".join(problems) + ".", at="/urls", detail="not permitted"
        )
    unique = list(dict.fromkeys(keys))
    objects = {"Objects": [{"Key": k} for k in unique], "Quiet": True}
    errors = _delete_objects(files, objects).get("Errors", [])
    if errors:  # S3 deletes are not transactional: say exactly which objects are still there
        failed = [e.get("Key", "?") for e in errors]
        logger.error("files not deleted", extra={"keys": failed, "codes": [e.get("Code") for e in errors]})
        raise Unavailable(
            f"These files could not be deleted: {', '.join(failed)}.",
            at="/urls",
            detail="DeleteObjectsErrors",
        )
    return Result(200, "Files deleted.", json.dumps(unique))


_TRANSIENT = frozenset(("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"))


def _delete_objects(files: Files, objects: dict[str, Any]) -> dict[str, Any]:
    """S3's DeleteObjects; a refusal or an unreachable S3 names the service (503 when a retry may
    help, 502 otherwise), chosen by error code and class, never by message text."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return files.client.delete_objects(Bucket=files.bucket, Delete=objects)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "") or "Unknown")
        logger.exception("S3 refused the deletion", extra={"code": code})
        if code in _TRANSIENT:
            raise Unavailable(
                "The file storage (S3) is busy; nothing was deleted, try again shortly.",
                at="/urls",
                detail=f"S3 {code}",
            ) from None
        raise BadGateway(
            "The file storage (S3) refused the deletion; nothing was deleted.",
            at="/urls",
            detail=f"S3 {code}",
        ) from None
    except BotoCoreError as exc:
        logger.exception("S3 not reachable")
        raise Unavailable(
            "The file storage (S3) cannot be reached; nothing was deleted, try again shortly.",
            at="/urls",
            detail=f"S3 {type(exc).__name__}",
        ) from None


def _keys(files: Files, value: Any) -> set[str | None]:
    return {files.key(v) for v in value} if isinstance(value, list) else {files.key(value)}


def _may_change_owners(session: Session, files: Files, auth: Authorizer, key: str) -> bool:
    """A key no row references may go; a referenced one only if the caller may update those rows."""
    for model in default_registry().models.values():
        for col in model.columns.values():
            if col.file is None:
                continue
            column = model.table.c[col.key]
            # Rows of the old backend may hold the key as a URL, percent-encoded or not: find
            # candidates by text (the key itself, or any percent-escape), then keep those whose
            # stored value names exactly this key once decoded (files.object_key).
            exact = column.contains(literal([key], JSONB)) if col.file.many else column == key
            text = cast(column, Text)
            loose = or_(text.contains(key, autoescape=True), text.contains("%", autoescape=True))
            candidates: list[Any] = list(session.scalars(select(model.cls).where(or_(exact, loose))))
            owners = [o for o in candidates if key in _keys(files, getattr(o, col.key))]
            if owners and not auth.may_change_files_of(model, col.key, owners):
                return False
    return True
