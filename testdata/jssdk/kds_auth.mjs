// Drives Eddy's Kinesis Data Streams API with the AWS SDK for JavaScript
// v3 for server/auth_kds_test.go: one PutRecords, then (when a consumer ARN
// is given) a SubscribeToShard from TRIM_HORIZON until a record arrives.
// Prints one JSON object. Arguments: endpoint, access key id, secret,
// stream, consumer ARN ("" for none). Node resolves the SDK from
// node_modules beside this file (npm install --prefix testdata/jssdk).
import { KinesisClient, PutRecordsCommand, SubscribeToShardCommand } from "@aws-sdk/client-kinesis";

const [endpoint, accessKeyId, secretAccessKey, stream, consumerARN] = process.argv.slice(2);
const client = new KinesisClient({ endpoint, region: "us-east-1", credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
const out = { handler: client.config.requestHandler?.constructor?.name ?? "" };
const failure = (e) => ({ name: e.name, message: e.message, class: e.constructor.name });

try {
	const r = await client.send(new PutRecordsCommand({
		StreamName: stream,
		Records: [{ Data: Buffer.from("js-1"), PartitionKey: "k", ExplicitHashKey: "0" }],
	}));
	out.put = { failed: r.FailedRecordCount, n: r.Records.length };
} catch (e) {
	out.putError = failure(e);
}

if (consumerARN) {
	try {
		const sub = await client.send(new SubscribeToShardCommand({
			ConsumerARN: consumerARN, ShardId: "shardId-000000000000", StartingPosition: { Type: "TRIM_HORIZON" },
		}));
		out.records = [];
		for await (const ev of sub.EventStream) {
			for (const r of ev.SubscribeToShardEvent?.Records ?? []) {
				out.records.push(Buffer.from(r.Data).toString());
			}
			if (out.records.length > 0) {
				break;
			}
		}
	} catch (e) {
		out.subError = failure(e);
	}
}
console.log(JSON.stringify(out));
process.exit(0);
