"""The file routes (docs/contract.md §6): presigned PUTs for uploads, and deletion of objects.

Both are all-or-nothing: every entry is checked first and one bad entry refuses the whole request
(400 listing them), so nothing is signed or deleted by halves. A prefix the caller's role has no
grant for is a policy denial (403).
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr
from sqlalchemy import Text, and_, any_, bindparam, case, cast, exists, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from dataapi.boundary import parse_model
from dataapi.db.engine import transaction
from dataapi.errors import (
    BadGateway,
    BadRequest,
    LimitExceeded,
    MalformedRequest,
    NotConfigured,
    PolicyRefusal,
    Unavailable,
)
from dataapi.identity.authorize import Authorizer, for_caller
from dataapi.query.serialize import guard_size
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
    settings = get_settings()
    if len(raw) > settings.max_upload_entries:
        raise LimitExceeded.of(
            f"The request asks for {len(raw)} upload URLs", settings.max_upload_entries, "/", "upload_entries"
        )
    entries = [parse_model(UploadEntry, item, f"/{i}") for i, item in enumerate(raw)]
    files = _files()
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
        unsafe = _unsafe_path(entry.filePath)
        segments = entry.filePath.strip().strip("/").split("/")
        if unsafe is not None:
            problems.append(f"/{i}/filePath: {unsafe}")
        elif not under(_folder(entry.filePath), declared) or any(p in ("", ".", "..") for p in segments):
            problems.append(f"/{i}/filePath: '{entry.filePath}' is not under {', '.join(declared)}")
        elif len(_folder(entry.filePath).encode()) + _KEY_TAIL > _S3_KEY_BYTES:
            problems.append(f"/{i}/filePath: the object key would be over S3's {_S3_KEY_BYTES} bytes")
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
    text = json.dumps(body)
    guard_size(text, settings.max_response_bytes, at="/", advice="sign fewer files per request")
    return Result(200, "Upload URLs signed.", text)


_S3_KEY_BYTES = 1024
_KEY_TAIL = 80 + 1 + 12 + 5  # the stem, "-", the unique part and the longest extension
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _unsafe_path(path: str) -> str | None:
    """Why a folder name cannot be part of a key, if it cannot: control characters (CR, LF, NUL
    split headers and logs), escapes (`%2e%2e` is `..` once decoded), and characters that other
    software reads as others (a full-width dot is a dot after Unicode normalisation)."""
    if _CONTROL.search(path):
        return "control characters are not allowed"
    if "%" in path or "\\" in path:
        return "'%' and '\\' are not allowed"
    if unicodedata.normalize("NFKC", path) != path:
        return "characters that read as others (full-width or compatibility forms) are not allowed"
    return None


def _folder(path: str) -> str:
    return path.strip().strip("/") + "/"


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return _UNSAFE.sub("-", base).strip("-._")[:80]


def delete_by_url(raw: Any, claims: dict[str, str], key: str | None = None) -> Result:
    """The objects deleted, after every entry was checked. With an Idempotency-Key the S3 call is
    made inside the transaction that claims the key, so a replay never deletes again
    (dataapi.idempotency)."""
    urls = raw.get("urls") if isinstance(raw, dict) else None
    limit = get_settings().max_file_urls
    if isinstance(urls, list) and len(urls) > limit:
        raise LimitExceeded.of(f"The request names {len(urls)} files", limit, "/urls", "file_urls")
    req = parse_model(DeleteFilesRequest, raw)
    if not req.urls:
        raise MalformedRequest("'urls' is empty.", at="/urls", detail="field=urls")
    files = _files()
    declared = declared_prefixes(default_registry())
    keys: list[str] = []
    problems: list[str] = []
    for i, url in enumerate(req.urls):
        found = files.key(url)
        if found is None or not under(found, declared):
            problems.append(
                f"/urls/{i}: not an object of this application's bucket under {', '.join(declared)}"
            )
        else:
            keys.append(found)
    if problems:
        raise BadRequest(
            "Nothing was deleted: " + "; ".join(problems) + ".", at="/urls", detail="invalid entries"
        )
    if key is None:
        with transaction() as session:
            _check_deletable(session, files, for_caller(session, claims), keys)
        return _deleted(files, keys)

    from dataapi.idempotency import Claim, Keyed, body_hash

    claim = Claim.of(Keyed(claims.get("sub", ""), "delete-image-url", key, body_hash(raw)), get_settings())
    with transaction() as session:
        claim.at_begin(session)
        auth = for_caller(session, claims)
        if (stored := claim.replay(session)) is not None:
            return stored
        _check_deletable(session, files, auth, keys)
        result = _deleted(files, keys)
        claim.store(session, result)
        return result


def _check_deletable(session: Session, files: Files, auth: Authorizer, keys: list[str]) -> None:
    """Every key under a prefix the caller may delete, and used by no row the caller may not change."""
    problems: list[str] = []
    allowed = auth.file_prefixes("delete", default_registry())
    kept = _kept(session, files, auth, [k for k in keys if under(k, allowed)])
    for i, key in enumerate(keys):
        if not under(key, allowed):
            problems.append(f"/urls/{i}: you may not delete under this prefix")
        elif key in kept:
            problems.append(f"/urls/{i}: a row you may not change still uses it")
    if problems:
        raise BadRequest(
            "Nothing was deleted: " + "; ".join(problems) + ".", at="/urls", detail="not permitted"
        )


def _deleted(files: Files, keys: list[str]) -> Result:
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


def _kept(session: Session, files: Files, auth: Authorizer, keys: list[str]) -> set[str]:
    """The keys a row the caller may not update still uses (in whatever form the row stores it).

    One statement per file column for all the keys: the rows holding a key itself are found by
    the column's index (`?` per key on the JSONB list's GIN index; `= ANY` on text); rows of the old
    backend holding URLs are found by one scan of the column's values that are not keys (a
    `://`, a leading `/` or a percent-escape), narrowed to those whose last path segment is one of
    the keys' or that hold a percent-escape. Every candidate is then decoded (files.object_key)
    and kept only when it names one of the keys."""
    wanted = set(keys)
    if not wanted:
        return set()
    names = sorted({k.rsplit("/", 1)[-1] for k in keys})
    kept: set[str] = set()
    for model in default_registry().models.values():
        pk = model.table.c[model.pk.key]
        for col in model.columns.values():
            if col.file is None:
                continue
            column = model.table.c[col.key]
            found = _indexed(pk, column, keys, many=col.file.many).union(
                select(pk).where(_legacy(column, names, many=col.file.many))
            )
            owners: dict[str, list[Any]] = {}
            rows: list[Any] = list(session.scalars(select(model.cls).where(pk.in_(found))))
            for row in rows:
                for key in _keys(files, getattr(row, col.key)):
                    if key is not None and key in wanted:
                        owners.setdefault(key, []).append(row)
            kept.update(k for k, held in owners.items() if not auth.may_change_files_of(model, col.key, held))
    return kept


def _indexed(pk: Any, column: Any, keys: list[str], *, many: bool) -> Any:
    """The ids of rows holding one of `keys` as stored (a key). A JSONB list is probed once per
    key through its GIN index (`? key`): with hundreds of keys the planner reads `?|` as a
    sequential scan that tests every key against every row."""
    sent = bindparam("keys", keys, type_=ARRAY(Text))
    if not many:
        return select(pk).where(column == any_(sent))
    each = func.unnest(sent).table_valued("key").render_derived(name="k")
    return select(pk).select_from(each).join(column.table, column.op("?")(each.c.key))


_NOT_A_KEY = r'://|%|^\s*"?\s*/|"\s*/'  # a URL, a percent-escape or a leading slash, in the value's text


def _legacy(column: Any, names: list[str], *, many: bool) -> Any:
    """Rows holding a value that is not a key (a URL of the old backend) that may name one of the
    keys: its last path segment is one of `names`, or it holds a percent-escape."""
    sent = bindparam("names", names, type_=ARRAY(Text))

    def names_one(value: Any) -> Any:
        last = func.substring(func.split_part(value, "?", 1), r"[^/]*$")
        return or_(func.strpos(value, "%") > 0, last == any_(sent))

    if not many:
        return and_(column.regexp_match(_NOT_A_KEY), names_one(column))
    values = func.jsonb_array_elements_text(column).table_valued("value").alias("v")
    listed = case(
        (
            func.jsonb_typeof(column) == "array",
            exists(select(1).select_from(values).where(names_one(values.c.value))),
        ),
        else_=False,
    )
    return and_(cast(column, Text).regexp_match(_NOT_A_KEY), listed)
