#!/usr/bin/env python3
"""Probes an S3 server for what the object-storage backend relies on: conditional PUTs
(If-None-Match: *, If-Match: <etag>), conditional CopyObject and CompleteMultipartUpload, and
multipart uploads. Run with the venv's python (boto3 comes with moto):

    target/s3-venv/bin/python tests/s3/probe.py http://127.0.0.1:PORT BUCKET [ACCESS SECRET]

Prints one line per check: PASS/FAIL/ERROR and what the server answered."""
import sys
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, bucket = sys.argv[1], sys.argv[2]
ak = sys.argv[3] if len(sys.argv) > 3 else "test"
sk = sys.argv[4] if len(sys.argv) > 4 else "test"
s3 = boto3.client(
    "s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
results = []


def status_of(fn):
    try:
        r = fn()
        return r["ResponseMetadata"]["HTTPStatusCode"], r
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response.get("Error", {})


def check(name, fn, want):
    try:
        got, detail = status_of(fn)
    except Exception as e:  # noqa: BLE001
        print(f"ERROR {name}: {type(e).__name__}: {e}")
        results.append(False)
        return None
    wants = want if isinstance(want, tuple) else (want,)
    ok = got in wants
    extra = "" if ok else f" {str(detail)[:200]}"
    print(f"{'PASS' if ok else 'FAIL'} {name}: want {want}, got {got}{extra}")
    results.append(ok)
    return detail


try:
    s3.create_bucket(Bucket=bucket)
except ClientError as e:
    print(f"note: create_bucket: {e.response['Error'].get('Code')}")

k = f"probe/{uuid.uuid4()}"
check("PUT If-None-Match:* on a new key", lambda: s3.put_object(Bucket=bucket, Key=k, Body=b"one", IfNoneMatch="*"), 200)
check("PUT If-None-Match:* on an existing key -> 412", lambda: s3.put_object(Bucket=bucket, Key=k, Body=b"two", IfNoneMatch="*"), 412)
body = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
print(f"{'PASS' if body == b'one' else 'FAIL'} the key still holds the first write: {body!r}")
results.append(body == b"one")
etag = s3.head_object(Bucket=bucket, Key=k)["ETag"]
check("PUT If-Match:<other etag> -> 412", lambda: s3.put_object(Bucket=bucket, Key=k, Body=b"three", IfMatch='"0123456789abcdef0123456789abcdef"'), 412)
check("PUT If-Match:<current etag> -> 200", lambda: s3.put_object(Bucket=bucket, Key=k, Body=b"four", IfMatch=etag), 200)
check("PUT If-Match on a missing key -> 404 or 412", lambda: s3.put_object(Bucket=bucket, Key=k + "-missing", Body=b"x", IfMatch=etag), (404, 412))
body = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
print(f"{'PASS' if body == b'four' else 'FAIL'} after the If-Match writes the key holds: {body!r}")
results.append(body == b"four")

# Conditional copy (object_store's copy_if_not_exists can use it).
k2 = f"probe/{uuid.uuid4()}"
check("CopyObject If-None-Match:* to a new key", lambda: s3.copy_object(Bucket=bucket, Key=k2, CopySource={"Bucket": bucket, "Key": k}, IfNoneMatch="*") if "IfNoneMatch" in s3.meta.service_model.operation_model("CopyObject").input_shape.members else (_ for _ in ()).throw(RuntimeError("boto3 has no IfNoneMatch on CopyObject")), 200)
check("CopyObject If-None-Match:* to an existing key -> 412", lambda: s3.copy_object(Bucket=bucket, Key=k2, CopySource={"Bucket": bucket, "Key": k}, IfNoneMatch="*") if "IfNoneMatch" in s3.meta.service_model.operation_model("CopyObject").input_shape.members else (_ for _ in ()).throw(RuntimeError("boto3 has no IfNoneMatch on CopyObject")), 412)

# Multipart: two parts (the first >= 5 MiB, S3's minimum for all but the last).
km = f"probe/{uuid.uuid4()}"
part1, part2 = b"a" * (5 * 1024 * 1024), b"b" * 1000
up = check("CreateMultipartUpload", lambda: s3.create_multipart_upload(Bucket=bucket, Key=km), 200)
if up is not None:
    uid = up["UploadId"]
    p1 = check("UploadPart 1 (5 MiB)", lambda: s3.upload_part(Bucket=bucket, Key=km, UploadId=uid, PartNumber=1, Body=part1), 200)
    p2 = check("UploadPart 2 (1000 B)", lambda: s3.upload_part(Bucket=bucket, Key=km, UploadId=uid, PartNumber=2, Body=part2), 200)
    check("ListParts", lambda: s3.list_parts(Bucket=bucket, Key=km, UploadId=uid), 200)
    check("ListMultipartUploads", lambda: s3.list_multipart_uploads(Bucket=bucket), 200)
    parts = {"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]}
    check("CompleteMultipartUpload", lambda: s3.complete_multipart_upload(Bucket=bucket, Key=km, UploadId=uid, MultipartUpload=parts), 200)
    body = s3.get_object(Bucket=bucket, Key=km)["Body"].read()
    ok = body == part1 + part2
    print(f"{'PASS' if ok else 'FAIL'} multipart object has the right bytes ({len(body)} B)")
    results.append(ok)
    # Conditional complete onto an existing key.
    up2 = s3.create_multipart_upload(Bucket=bucket, Key=km)["UploadId"]
    e = s3.upload_part(Bucket=bucket, Key=km, UploadId=up2, PartNumber=1, Body=b"c" * 10)["ETag"]
    check("CompleteMultipartUpload If-None-Match:* on an existing key -> 412", lambda: s3.complete_multipart_upload(Bucket=bucket, Key=km, UploadId=up2, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]}, IfNoneMatch="*"), 412)
    up3 = s3.create_multipart_upload(Bucket=bucket, Key=km)["UploadId"]
    check("AbortMultipartUpload", lambda: s3.abort_multipart_upload(Bucket=bucket, Key=km, UploadId=up3), 204)

print(f"probe: {sum(results)} passed, {len(results) - sum(results)} failed")
