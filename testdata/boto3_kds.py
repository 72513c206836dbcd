#!/usr/bin/env python3
"""Exercise Eddy's Kinesis Data Streams API with boto3.

usage: boto3_kds.py ENDPOINT_URL [STREAM_NAME]

Creates a 2-shard stream, writes records with binary (non-UTF-8) data via
PutRecords, reads every shard back from TRIM_HORIZON, checks data,
partition keys, shard ids and sequence numbers, and checks that errors map
to botocore's modeled exception classes. Prints one JSON summary on stdout
and exits 1 if any check failed. server/boto3_test.go runs it.
"""

import base64
import json
import sys
import time

import boto3
import botocore
from botocore.config import Config

RECORDS = 50


def record(i):
    """Partition key and data of record i (server/boto3_test.go mirrors this)."""
    pk = "pk-%d-\u00e9" % i
    data = b"rec-%02d:" % i + bytes((i * 37 + j * 11) % 256 for j in range(i * 5)) + b"\xff\xfe\x80\x00"
    return pk, data


def main():
    endpoint = sys.argv[1]
    stream = sys.argv[2] if len(sys.argv) > 2 else "boto3-stream"
    client = boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
    )
    problems = []
    summary = {
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "problems": problems,
    }

    client.create_stream(StreamName=stream, ShardCount=2)
    deadline = time.time() + 30
    while True:
        desc = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        if desc["StreamStatus"] == "ACTIVE":
            break
        if time.time() > deadline:
            problems.append("stream not ACTIVE after 30s: %s" % desc["StreamStatus"])
            break
        time.sleep(0.05)
    summary["open_shards"] = desc.get("OpenShardCount")

    entries = []
    for i in range(RECORDS):
        pk, data = record(i)
        entries.append({"Data": data, "PartitionKey": pk})
    put = client.put_records(StreamName=stream, Records=entries)
    summary["put"] = len(put["Records"])
    summary["failed"] = put.get("FailedRecordCount", 0)
    acked = {}  # (shard, seq) -> index
    for i, r in enumerate(put["Records"]):
        if "ErrorCode" in r:
            problems.append("record %d failed: %s %s" % (i, r["ErrorCode"], r.get("ErrorMessage")))
            continue
        acked[(r["ShardId"], r["SequenceNumber"])] = i

    shards = client.list_shards(StreamName=stream)["Shards"]
    summary["shards"] = [s["ShardId"] for s in shards]
    read = []
    per_shard = {}
    for s in shards:
        sid = s["ShardId"]
        it = client.get_shard_iterator(StreamName=stream, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        prev = None
        calls = 0
        while it is not None and calls < 100:
            calls += 1
            out = client.get_records(ShardIterator=it, Limit=1000)
            for r in out["Records"]:
                seq = r["SequenceNumber"]
                if prev is not None and int(seq) <= prev:
                    problems.append("%s: sequence %s does not follow %d" % (sid, seq, prev))
                prev = int(seq)
                if not isinstance(r["Data"], bytes):
                    problems.append("%s: Data is %s, not bytes" % (sid, type(r["Data"]).__name__))
                if "ApproximateArrivalTimestamp" not in r:
                    problems.append("%s: no ApproximateArrivalTimestamp" % sid)
                i = acked.get((sid, seq))
                if i is None:
                    problems.append("%s: unexpected record at %s" % (sid, seq))
                else:
                    pk, data = record(i)
                    if r["Data"] != data:
                        problems.append("record %d: data %r, want %r" % (i, r["Data"], data))
                    if r["PartitionKey"] != pk:
                        problems.append("record %d: partition key %r, want %r" % (i, r["PartitionKey"], pk))
                read.append({
                    "shard": sid,
                    "seq": seq,
                    "pk": r["PartitionKey"],
                    "data": base64.b64encode(r["Data"]).decode("ascii"),
                })
                per_shard[sid] = per_shard.get(sid, 0) + 1
            it = out.get("NextShardIterator")
            if not out["Records"] and out.get("MillisBehindLatest", 0) == 0:
                break
    summary["read"] = len(read)
    summary["per_shard"] = per_shard
    summary["records"] = read
    seen = {(r["shard"], r["seq"]) for r in read}
    for key, i in sorted(acked.items(), key=lambda kv: kv[1]):
        if key not in seen:
            problems.append("record %d (%s/%s) not read back" % (i, key[0], key[1]))

    # Errors must surface as botocore's modeled exception classes.
    errors = {}

    def expect(name, exc, fn):
        try:
            fn()
        except exc as e:
            errors[name] = e.response["Error"]["Code"]
            return
        except Exception as e:  # noqa: BLE001 - report the wrong class
            errors[name] = "%s: %s" % (type(e).__name__, e)
            problems.append("%s raised %s, want %s" % (name, type(e).__name__, exc.__name__))
            return
        errors[name] = "no error"
        problems.append("%s raised nothing, want %s" % (name, exc.__name__))

    ex = client.exceptions
    expect("describe_missing", ex.ResourceNotFoundException,
           lambda: client.describe_stream(StreamName="no-such-stream"))
    expect("put_missing", ex.ResourceNotFoundException,
           lambda: client.put_record(StreamName="no-such-stream", Data=b"x", PartitionKey="k"))
    expect("create_existing", ex.ResourceInUseException,
           lambda: client.create_stream(StreamName=stream, ShardCount=1))
    expect("bad_iterator", ex.InvalidArgumentException,
           lambda: client.get_records(ShardIterator="not-an-iterator"))
    summary["errors"] = errors

    print(json.dumps(summary, sort_keys=True))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
