#!/usr/bin/env python3
"""Is the conditional PUT atomic? N threads race `If-None-Match: *` PUTs on one fresh key (exactly
one must win), then N threads race `If-Match: <etag>` PUTs against the same etag (at most one may
win). Repeated over ROUNDS keys.

    target/s3-venv/bin/python tests/s3/race.py http://127.0.0.1:PORT BUCKET [ACCESS SECRET]"""
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, bucket = sys.argv[1], sys.argv[2]
ak = sys.argv[3] if len(sys.argv) > 3 else "test"
sk = sys.argv[4] if len(sys.argv) > 4 else "test"
N, ROUNDS = 16, 10
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                  region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                max_pool_connections=N))


def put(**kw):
    try:
        s3.put_object(Bucket=bucket, **kw)
        return 200
    except ClientError as e:
        return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response.get("Error", {}).get("Code"))


create_multi = match_multi = 0
for _ in range(ROUNDS):
    key = f"race/{uuid.uuid4()}"
    with ThreadPoolExecutor(N) as ex:
        codes = list(ex.map(lambda i: put(Key=key, Body=f"w{i}".encode(), IfNoneMatch="*"), range(N)))
    wins = codes.count(200)
    if wins == 0:
        print("no winner:", codes)
        create_multi += 1
        continue
    create_multi += wins != 1
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    with ThreadPoolExecutor(N) as ex:
        codes2 = list(ex.map(lambda i: put(Key=key, Body=f"m{i}".encode(), IfMatch=etag), range(N)))
    match_multi += codes2.count(200) > 1
    print(f"If-None-Match:* winners {wins}/{N} {sorted(set(map(str, codes)))}; If-Match winners {codes2.count(200)}/{N} {sorted(set(map(str, codes2)))}")
print(f"race: {ROUNDS - create_multi} passed, {create_multi} failed (If-None-Match:* exactly one winner)")
print(f"race: {ROUNDS - match_multi} passed, {match_multi} failed (If-Match at most one winner)")
