"""The writer lease's record on S3, replaced only by conditional writes (boto3).

An object store has no lock to hold around read-decide-write, so each write names what it
read: creating ``LEASE.json`` sends ``If-None-Match: *`` (refused if any exists), replacing it
sends ``If-Match: <the ETag read>`` (refused if anyone wrote it since). Of two drivers racing
for a free or dead lease, S3 lets exactly one write through; the other is refused (412, or 409
when the writes were simultaneous), reads again, and finds a live owner. ``pyarrow.fs`` does
not expose these headers, hence boto3, for this one small object only; it is the optional
extra ``pip install 'raysweep[s3]'``.

A store that silently ignores the headers would let two writers in, so before the first
lease of a bucket in this process, :meth:`S3Slot.prepare` checks on a scratch object that a
conditional create and a conditional replace are refused when they must be, and refuses the
store if not. Other object stores (``gs://``, ...) get no lease: their equivalent
(generation preconditions) is not reachable through ``pyarrow.fs`` either, and raysweep does
not implement it, so :func:`lease_slot` says what is supported rather than write unfenced.

The connection follows the study's URI (``endpoint_override``, ``scheme`` and ``region`` in its
query, as ``pyarrow.fs`` reads them) and otherwise boto3's own configuration: the
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` and ``AWS_PROFILE``
environment variables, the shared config files, or an instance role.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from raysweep.orchestrator._errors import StorageError
from raysweep.orchestrator._storage._format import LEASE_FILE
from raysweep.orchestrator._storage._lease import LeaseOwner, LeaseRead, LeaseSlot, parse_owner
from raysweep.orchestrator._storage._object_store import ObjectLocation

__all__ = ["S3Slot", "lease_slot"]

_INSTALL = "pip install 'raysweep[s3]'"
# The refusals S3 answers a conditional write with: 412 when the record is not the one named,
# 409 when another conditional write of the key was in flight at the same moment.
_REFUSED = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
# What a read of a missing object, or an If-Match on one deleted since, is answered with.
_MISSING = frozenset({"NoSuchKey", "404"})
# Buckets (per endpoint) whose conditional writes this process has seen refused as they must be.
_CHECKED: set[tuple[str | None, str]] = set()
_CHECKED_LOCK = threading.Lock()


def lease_slot(location: ObjectLocation) -> LeaseSlot:
    """Where the lease of the study at ``location`` lives; StorageError if none can be kept."""
    if location.scheme == "s3":
        return S3Slot(location)
    raise StorageError(
        f"raysweep cannot keep a writer lease on {location.scheme}:// ({location.display}): the "
        "lease needs conditional writes, and raysweep implements them for s3:// only (AWS S3, "
        "or an S3-compatible store that honours If-None-Match and If-Match on PutObject; pass "
        "its endpoint as s3://bucket/prefix?endpoint_override=host:port). Write the study to "
        "s3:// or a local or shared path; a log on any pyarrow.fs URI can still be read with "
        "read_events, `raysweep log` and `raysweep trials`"
    )


def _boto3() -> tuple[Any, Any, Any]:
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ImportError:
        raise StorageError(
            f"a study on s3:// needs boto3 for its writer lease (conditional writes): {_INSTALL}"
        ) from None
    return boto3, botocore.config, botocore.exceptions


def _endpoint(location: ObjectLocation) -> tuple[str | None, str | None]:
    """(endpoint URL, region) named by the URI's query; None: boto3's own configuration."""
    query = dict(urllib.parse.parse_qsl(location.query))
    endpoint = query.get("endpoint_override")
    if endpoint is not None and "://" not in endpoint:
        endpoint = f"{query.get('scheme', 'https')}://{endpoint}"
    return endpoint, query.get("region")


def _credentials(location: ObjectLocation) -> dict[str, str]:
    # pyarrow reads s3://ACCESS:SECRET@bucket/...; so does the lease, or the two would differ.
    netloc = urllib.parse.urlsplit(location.uri).netloc
    userinfo, at, _ = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return {}
    access, _, secret = userinfo.partition(":")
    return {
        "aws_access_key_id": urllib.parse.unquote(access),
        "aws_secret_access_key": urllib.parse.unquote(secret),
    }


class S3Slot:
    """``<study>/LEASE.json`` on S3, created with If-None-Match and replaced with If-Match."""

    def __init__(self, location: ObjectLocation) -> None:
        boto3, config, self._errors = _boto3()
        self._location = location
        self._bucket = location.bucket
        self._key = "/".join(p for p in (location.key, LEASE_FILE) if p)
        self._endpoint, region = _endpoint(location)
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=self._endpoint,
            region_name=region,
            config=config.Config(
                # Bounded: verify() runs before every commit, and a hung read must end in an
                # error the writer reports, not in a commit that never returns.
                connect_timeout=5,
                read_timeout=10,
                retries={"max_attempts": 4, "mode": "standard"},
            ),
            **_credentials(location),
        )

    @property
    def location(self) -> str:
        return self._location.display

    @property
    def _shown(self) -> str:
        return f"{self._location.display}/{LEASE_FILE}"

    def _call(
        self, what: str, request: Callable[[], Any], passing: frozenset[str] = frozenset()
    ) -> Any:
        """``request()``; an S3 error whose code is in ``passing`` re-raised as is, any other
        failure as StorageError naming the object and what to check."""
        try:
            return request()
        except self._errors.ClientError as exc:
            if _error_code(exc) in passing:
                raise
            raise StorageError(
                f"cannot {what} the lease object {self._shown} ({exc}); check the bucket and "
                "the credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            ) from exc
        except self._errors.ParamValidationError as exc:
            raise StorageError(
                f"this boto3 cannot send S3's conditional writes ({exc}); upgrade it: "
                f"pip install -U 'raysweep[s3]'"
            ) from exc
        except self._errors.BotoCoreError as exc:
            raise StorageError(
                f"cannot {what} the lease object {self._shown} ({exc}); check the endpoint "
                "(endpoint_override= in the URI, or AWS_ENDPOINT_URL_S3) and the network"
            ) from exc

    def prepare(self) -> None:
        with _CHECKED_LOCK:
            if (self._endpoint, self._bucket) in _CHECKED:
                return
            self._check_conditional_writes()
            _CHECKED.add((self._endpoint, self._bucket))

    def _check_conditional_writes(self) -> None:
        """StorageError unless the store refuses a conditional write it must refuse."""
        scratch = f"{self._key}.probe-{uuid.uuid4().hex}"

        def put(**condition: str) -> bool:
            try:
                self._call(
                    "write",
                    lambda: self._client.put_object(
                        Bucket=self._bucket, Key=scratch, Body=b"{}", **condition
                    ),
                    passing=_REFUSED,
                )
            except self._errors.ClientError:
                return False
            return True

        try:
            created = put(IfNoneMatch="*")
            again = put(IfNoneMatch="*")
            replaced = put(IfMatch='"00000000000000000000000000000000"')
        finally:
            with contextlib.suppress(Exception):
                self._client.delete_object(Bucket=self._bucket, Key=scratch)
        if not created or again or replaced:
            ignored = "If-None-Match" if again else "If-Match"
            raise StorageError(
                f"the object store of {self._location.display} does not honour {ignored} on "
                "PutObject (a conditional write that had to be refused went through), so the "
                "writer lease could not keep two drivers from writing the study at once; use "
                "AWS S3 or an S3-compatible store with conditional writes"
            )

    def exclusive(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def read(self) -> LeaseRead:
        def fetch() -> tuple[bytes, str]:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._key)
            return answer["Body"].read(), answer["ETag"]

        try:
            body, etag = self._call("read", fetch, passing=_MISSING)
        except self._errors.ClientError:
            return LeaseRead(None, None, None)
        return parse_owner(body.decode(errors="replace"), "the lease object", etag)

    def write(self, owner: LeaseOwner, version: str | None) -> str | None:
        condition = {"IfNoneMatch": "*"} if version is None else {"IfMatch": version}
        try:
            answer = self._call(
                "write",
                lambda: self._client.put_object(
                    Bucket=self._bucket,
                    Key=self._key,
                    Body=owner.to_json().encode(),
                    ContentType="application/json",
                    **condition,
                ),
                passing=_REFUSED | _MISSING,
            )
        except self._errors.ClientError:
            return None  # changed (or deleted) since it was read
        etag: str = answer["ETag"]
        return etag

    def cleanup(self) -> None:
        pass  # a refused or failed PUT leaves nothing behind


def _error_code(exc: Any) -> str:
    """S3's error code, else the HTTP status (a HEAD or a bare 412 carries no code)."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or str(status)
