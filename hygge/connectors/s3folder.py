"""Datasets under an S3 prefix (AWS or any S3-compatible store), laid out as in a local folder (folder.py).

S3 has no rename, but an object appears whole when its upload or copy ends. So a write that changes one object (a
replace of the single file, a new part) stages it under a hidden name and copies it into place. A write that
changes several (a replace of appended parts, an append to a single file, which becomes the first part) first puts
a commit record, `.<name>.<ext>.hygge/commit-<time>-<id>.json`, listing the objects the dataset is made of from
then on and those it no longer holds: that put is the commit. Readers follow a record while it exists; the write
then copies, deletes what was replaced, and deletes the record. A write killed on the way is finished by the next
write of the target (`recover`), and until then readers follow the record: every reader sees the old rows or the
new ones, never both or neither.

obstore (Rust's object_store, the library Polars reads and writes S3 with) is imported when an S3 path is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from hygge.connectors.folder import (
    STALE_TEMP_AGE,
    DataFile,
    Dataset,
    Folder,
    both_error,
    glob_match,
    is_glob,
    is_hidden,
    part_name,
    utc_stamp,
)
from hygge.errors import FlowError, MissingDriverError
from hygge.faults import checkpoint
from hygge.redact import register_secret

# A store that does not answer fails the flow within seconds, not after object_store's three minutes of retries.
_RETRY = {"max_retries": 2, "retry_timeout": timedelta(seconds=20)}
_CONNECT_TIMEOUT = timedelta(seconds=10)
_RECORD_VERSION = 1
# How long a failed write waits for the upload of its staged object, which Polars may complete just after raising.
LATE_UPLOAD_SECONDS = 1.0
_RECORD = re.compile(r"commit-\d{8}T\d{12}-[0-9a-f]{8}\.json")  # in time order by name


class S3Options(BaseModel):
    """How to reach the bucket of an `s3://` path; unset values come from the AWS_* environment variables
    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_url: str | None = None  # an S3-compatible server: http://127.0.0.1:9000 (MinIO), R2, ...
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    allow_http: bool | None = None  # default: true when endpoint_url starts with http://
    anonymous: bool = False  # a public bucket: requests are not signed


def _split_url(url: str) -> tuple[str, str]:
    """(bucket, prefix without slashes at either end) of `s3://bucket/prefix`."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def _join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


_S3_CODE = re.compile(r"<Code>(\w+)</Code>")
_REASONS = {
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "access denied (check the credentials and the bucket's policy)",
    "InvalidAccessKeyId": "the access key id is not known to the server",
    "SignatureDoesNotMatch": "the secret access key does not match the access key id",
    "ExpiredToken": "the session token has expired",
}


def _reason(exc: BaseException) -> str:
    """What went wrong, in one line: object_store's messages hold the whole HTTP exchange."""
    text = str(exc)
    if (code := _S3_CODE.search(text)) is not None:
        return _REASONS.get(code.group(1), code.group(1))
    if "Connection refused" in text or "error sending request" in text or "dns error" in text:
        return "the server does not answer (check endpoint_url, or AWS_ENDPOINT_URL)"
    if "larger than the maximum allowable size for a copy" in text:
        return "S3 copies objects of at most 5 GB; write this target as appended parts instead (mode: append)"
    return text.splitlines()[0][:300] if text else type(exc).__name__


class _Bucket:
    """One bucket, reached with the settings' options; both obstore and Polars get the same ones."""

    def __init__(self, name: str, options: S3Options | None) -> None:
        self.name = name
        self.options = options or S3Options()
        self._store: Any = None
        self._lock = threading.Lock()
        for secret in (self.options.secret_access_key, self.options.session_token):
            if secret:
                register_secret(secret)

    def url(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def _allow_http(self) -> bool | None:
        """Whether plain http is allowed: set, else as AWS_ALLOW_HTTP says, else when the endpoint is http://."""
        o = self.options
        if o.allow_http is not None:
            return o.allow_http
        if (flag := os.environ.get("AWS_ALLOW_HTTP")) is not None:
            return flag.strip().lower() in ("1", "true", "yes")
        endpoint = o.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        return True if endpoint.startswith("http://") else None

    def _settings(self) -> dict[str, str | bool]:
        """The options that are set, by obstore's names (Polars takes the same with `aws_` before them)."""
        o = self.options
        values: dict[str, str | bool | None] = {
            "endpoint": o.endpoint_url,
            "region": o.region,
            "access_key_id": o.access_key_id,
            "secret_access_key": o.secret_access_key,
            "session_token": o.session_token,
            "skip_signature": True if o.anonymous else None,
        }
        return {key: value for key, value in values.items() if value is not None}

    @property
    def polars_options(self) -> dict[str, str]:
        values = {**self._settings(), "allow_http": self._allow_http()}
        polars_name = {"endpoint": "endpoint_url"}
        return {
            f"aws_{polars_name.get(key, key)}": str(value).lower() if isinstance(value, bool) else value
            for key, value in values.items()
            if value is not None
        }

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                try:
                    from obstore.store import S3Store
                except ImportError as exc:
                    raise MissingDriverError("s3", "obstore", "s3") from exc
                client: dict[str, Any] = {"connect_timeout": _CONNECT_TIMEOUT}
                if (allow := self._allow_http()) is not None:
                    client["allow_http"] = allow
                self._store = S3Store(
                    self.name,
                    config=self._settings(),  # type: ignore[arg-type]
                    client_options=client,  # type: ignore[arg-type]
                    retry_config=_RETRY,  # type: ignore[arg-type]
                )
            return self._store

    @contextlib.contextmanager
    def _errors(self, what: str, key: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            raise
        except Exception as exc:
            if isinstance(exc, FlowError):
                raise
            raise FlowError(f"could not {what} {self.url(key)}: {_reason(exc)}") from exc

    def head(self, key: str) -> dict[str, Any] | None:
        import obstore

        with self._errors("read", key):
            try:
                return dict(obstore.head(self.store, key))
            except FileNotFoundError:
                return None

    def objects(self, prefix: str, *, nested: bool = True) -> list[dict[str, Any]]:
        """The objects whose keys start with `prefix`; with nested=False, only those directly in the folder
        `prefix` names (it ends with '/')."""
        import obstore

        with self._errors("list", prefix):
            if nested:
                return [dict(meta) for batch in obstore.list(self.store, prefix=prefix or None) for meta in batch]
            found: Any = obstore.list_with_delimiter(self.store, prefix=prefix or None)
            return [dict(meta) for meta in found["objects"]]

    def folders(self, prefix: str) -> list[str]:
        import obstore

        with self._errors("list", prefix):
            found: Any = obstore.list_with_delimiter(self.store, prefix=prefix or None)
            return list(found["common_prefixes"])

    def any(self, prefix: str) -> bool:
        import obstore

        with self._errors("list", prefix):
            for batch in obstore.list(self.store, prefix=prefix or None, chunk_size=1):
                return bool(batch)
        return False

    def get_text(self, key: str) -> str:
        import obstore

        with self._errors("read", key):
            return bytes(obstore.get(self.store, key).bytes()).decode()

    def put_text(self, key: str, text: str) -> None:
        import obstore

        with self._errors("write", key):
            obstore.put(self.store, key, text.encode())

    def copy(self, source: str, target: str) -> None:
        import obstore

        with self._errors("write", target):
            obstore.copy(self.store, source, target)

    def delete(self, keys: list[str]) -> None:
        import obstore

        if keys:
            with self._errors("delete", keys[0]):
                obstore.delete(self.store, keys)  # deleting a missing key is no error on S3


class S3File(DataFile):
    def __init__(self, bucket: _Bucket, key: str, size: int | None = None) -> None:
        self.bucket = bucket
        self.key = key
        self.shown = bucket.url(key)
        self._size = size
        self.recorded = False  # a commit record names it: the record's finisher deletes it, not the staging

    @property
    def source(self) -> str:
        return self.bucket.url(self.key)

    @property
    def storage_options(self) -> dict[str, Any]:
        return self.bucket.polars_options

    def size(self) -> int:
        if self._size is None:
            meta = self.bucket.head(self.key)
            if meta is None:
                raise FlowError(f"{self.shown} does not exist")
            self._size = int(meta["size"])
        return self._size


class S3Dataset(Dataset):
    def __init__(self, bucket: _Bucket, prefix: str, name: str, extension: str) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.name = name
        self.extension = extension
        self.key = posixpath.normpath(_join(prefix, f"{name}.{extension}"))
        self.folder_key = posixpath.normpath(_join(prefix, name)) + "/"
        parent, self.leaf = posixpath.split(posixpath.normpath(_join(prefix, name)))
        # This dataset's staged objects and commit records: a hidden folder beside it, which readers skip.
        self.hidden = _join(parent, f".{self.leaf}.{extension}.hygge") + "/"

    @property
    def shown_file(self) -> str:
        return self.bucket.url(self.key)

    @property
    def shown_folder(self) -> str:
        return self.bucket.url(self.folder_key.rstrip("/"))

    def _file(self, key: str, size: int | None = None) -> S3File:
        return S3File(self.bucket, key, size)

    def single_file(self) -> S3File | None:
        meta = self.bucket.head(self.key)
        return None if meta is None else self._file(self.key, int(meta["size"]))

    def _parts(self) -> list[dict[str, Any]]:
        suffix = f".{self.extension}"
        found = self.bucket.objects(self.folder_key, nested=False)
        return sorted(
            (m for m in found if m["path"].endswith(suffix) and not is_hidden(posixpath.basename(m["path"]))),
            key=lambda m: str(m["path"]),
        )

    def _records(self) -> list[str]:
        return sorted(m["path"] for m in self.bucket.objects(self.hidden) if _RECORD.match(m["path"], len(self.hidden)))

    def _record(self, key: str) -> dict[str, Any] | None:
        """The commit record `key`, or None when it is gone (its write finished since it was listed)."""
        try:
            record = json.loads(self.bucket.get_text(key))
            assert record["version"] == _RECORD_VERSION and isinstance(record["files"], list)
            return dict(record)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            raise FlowError(
                f"the commit record {self.bucket.url(key)} cannot be read ({exc})",
                hint="It was not written by this version of hygge. Compare it with the target's files, then delete "
                "it or the files it replaced.",
            ) from exc

    def files(self, *, where: str) -> list[DataFile]:
        records = self._records()
        if len(records) > 1:
            raise FlowError(
                f"{len(records)} unfinished writes left commit records for {self.shown_file}",
                where=where,
                hint="Run the flow that writes this target: its next write finishes them in order.",
            )
        if records and (record := self._record(records[0])) is not None:
            # A committed write still being finished (or killed): the record says what the dataset holds.
            return [
                self._file(source if self.bucket.head(source) is not None else final)
                for final, source in record["files"]
            ]
        single, parts = self.single_file(), self._parts()
        if single is not None:
            if parts:
                raise both_error(self, where)
            return [single]
        return [self._file(m["path"], int(m["size"])) for m in parts]

    def folder_exists(self) -> bool:
        return self.bucket.any(self.folder_key)

    def location(self) -> str:
        return self.bucket.url(self.key)

    def part_location(self) -> str:
        part = part_name(datetime(2000, 1, 1, tzinfo=UTC), self.extension, tag="00000000")
        return self.bucket.url(self.folder_key + part)

    # writing

    def inside(self, folder: Folder) -> bool:
        if not isinstance(folder, S3Folder) or folder.bucket.name != self.bucket.name:
            return False
        if self.key.startswith(("../", "/")):
            return False
        return not folder.prefix or self.key.startswith(folder.prefix + "/")

    @contextlib.contextmanager
    def staging(self) -> Iterator[DataFile]:
        temp = self._file(f"{self.hidden}staged-{uuid.uuid4().hex}.{self.extension}")
        try:
            yield temp
        except BaseException:
            if not temp.recorded:
                self._remove_late(temp)
            raise
        else:
            if not temp.recorded:
                self._remove_late(temp, wait=0)

    def _remove_late(self, temp: S3File, wait: float = LATE_UPLOAD_SECONDS) -> None:
        """Delete a staged object; after a failed sink, also the one Polars' upload may still complete just after
        raising (it holds part of the rows). Hidden either way: what a slower upload leaves, a write of this
        target removes once it is stale."""
        with contextlib.suppress(FlowError):
            self.bucket.delete([temp.key])
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                time.sleep(0.05)
                if self.bucket.head(temp.key) is not None:
                    self.bucket.delete([temp.key])
                    return

    def commit_replace(self, temp: DataFile) -> Callable[[], None]:
        assert isinstance(temp, S3File)
        parts = [m["path"] for m in self._parts()]
        if not parts:
            self.bucket.copy(temp.key, self.key)  # one object: the copy is the commit
        else:
            self._commit(temp, {"files": [[self.key, temp.key]], "delete": parts})
        return lambda: None

    def commit_append(self, temp: DataFile) -> Callable[[], None]:
        assert isinstance(temp, S3File)
        now = datetime.now(UTC)
        new = self.folder_key + part_name(now, self.extension)
        single = self.bucket.head(self.key)
        if single is None:
            self.bucket.copy(temp.key, new)
        else:
            written = single.get("last_modified") or now
            earlier = min(written, now - timedelta(microseconds=1))  # sorts before the new part
            old = self.folder_key + part_name(earlier, self.extension)
            self._commit(temp, {"files": [[old, self.key], [new, temp.key]], "delete": [self.key]})
        return lambda: None

    def _commit(self, temp: S3File, changes: dict[str, Any]) -> None:
        record = f"{self.hidden}commit-{utc_stamp(datetime.now(UTC))}-{uuid.uuid4().hex[:8]}.json"
        # Kept from here on: a put that fails in its answer may still have stored the record, which needs the
        # staged object; if it did not, the object is a stale temp that a later write removes.
        temp.recorded = True
        self.bucket.put_text(record, json.dumps({"version": _RECORD_VERSION, **changes}))
        checkpoint("write.s3.recorded")
        try:
            self._finish(record, {"version": _RECORD_VERSION, **changes})
        except FlowError as exc:
            exc.hint = "The write is committed: readers see the new rows, and the next write of this target ends it."
            raise

    def _finish(self, record: str, changes: dict[str, Any]) -> None:
        """Carry out a commit record: every copy first (a source is deleted only after all of them), then the
        deletes, then the record itself, then the staged objects it named."""
        for final, source in changes["files"]:
            with contextlib.suppress(FileNotFoundError):  # copied before, and its source since deleted
                self.bucket.copy(source, final)
        checkpoint("write.s3.copied")
        self.bucket.delete(list(changes.get("delete", [])))
        self.bucket.delete([record])
        self.bucket.delete([source for _, source in changes["files"] if source.startswith(self.hidden)])

    def recover(self) -> None:
        for key in self._records():
            if (record := self._record(key)) is not None:
                self._finish(key, record)
        cutoff = datetime.now(UTC) - STALE_TEMP_AGE
        stale = [
            m["path"]
            for m in self.bucket.objects(self.hidden)
            if m["path"].startswith(self.hidden + "staged-")
            and m.get("last_modified") is not None
            and m["last_modified"] < cutoff
        ]
        self.bucket.delete(stale)


class S3Folder(Folder):
    """`s3://bucket/prefix`: the datasets under the prefix."""

    def __init__(self, bucket: _Bucket, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.shown = bucket.url(prefix).rstrip("/")

    @classmethod
    def open(cls, url: str, options: S3Options | None) -> S3Folder:
        name, prefix = _split_url(url)
        return cls(_Bucket(name, options), prefix)

    def dataset(self, name: str, extension: str) -> S3Dataset:
        return S3Dataset(self.bucket, self.prefix, name, extension)

    def _below(self) -> str:
        return self.prefix + "/" if self.prefix else ""

    def exists(self) -> bool:
        return self.bucket.any(self._below())

    def _split(self, pattern: str) -> tuple[str, str]:
        """(the key prefix before the first glob segment, the rest of the pattern)."""
        parts = [part for part in pattern.split("/") if part]
        fixed = next(i for i, part in enumerate(parts) if is_glob(part))
        return _join(self.prefix, *parts[:fixed]), "/".join(parts[fixed:])

    def glob(self, pattern: str, extension: str) -> tuple[list[DataFile], str]:
        folder, rest = self._split(pattern)
        below = folder + "/" if folder else ""
        suffix = f".{extension}"
        found: list[S3File] = []
        for meta in self.bucket.objects(below):
            relative = meta["path"][len(below) :]
            if (
                relative.endswith(suffix)
                and not any(is_hidden(part) for part in relative.split("/"))
                and glob_match(rest, relative)
            ):
                found.append(S3File(self.bucket, meta["path"], int(meta["size"])))
        found.sort(key=lambda file: file.key)
        return list[DataFile](found), self.bucket.url(_join(folder, rest))

    def glob_location(self, pattern: str) -> str:
        folder, rest = self._split(pattern)
        return self.bucket.url(_join(folder, rest))

    def available(self, extension: str) -> list[str]:
        suffix = f".{extension}"
        below = self._below()
        names = {
            posixpath.basename(m["path"])[: -len(suffix)]
            for m in self.bucket.objects(below, nested=False)
            if m["path"].endswith(suffix) and not is_hidden(posixpath.basename(m["path"]))
        }
        for folder in self.bucket.folders(below)[:100]:
            name = posixpath.basename(folder.rstrip("/"))
            if not is_hidden(name) and self.dataset(name, extension)._parts():
                names.add(name)
        return sorted(names)

    def check(self, where: str, *, store: bool) -> None:
        try:
            self.bucket.any(self._below())
        except FlowError as exc:
            raise FlowError(
                exc.message.replace("could not list", "could not open", 1),
                where=where,
                hint="Check path:, the s3: options and the AWS_* environment variables.",
            ) from exc
