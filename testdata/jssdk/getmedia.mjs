// Drives Eddy's GetMedia with the AWS SDK for JavaScript v3
// (@aws-sdk/client-kinesis-video-media) for server/getmedia_js_test.go:
// one GetMedia with the given start selector, its payload written to a
// file as it arrives, until the answer ends or the given seconds have
// passed (then the request is aborted, as a consumer that leaves).
// Prints one JSON object: the content type, when the answer's headers
// arrived (Unix ms), the bytes read, and the error if any. Arguments:
// endpoint, access key id, secret, stream, start selector (JSON), output
// file, seconds. Node resolves the SDK from node_modules beside this file
// (npm install --prefix testdata/jssdk).
import { createWriteStream } from "node:fs";
import { KinesisVideoMediaClient, GetMediaCommand } from "@aws-sdk/client-kinesis-video-media";

const [endpoint, accessKeyId, secretAccessKey, stream, selector, outFile, seconds] = process.argv.slice(2);
const client = new KinesisVideoMediaClient({ endpoint, region: "us-east-1", credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
const out = { bytes: 0 };
const file = createWriteStream(outFile);
const abort = new AbortController();
const timer = setTimeout(() => abort.abort(), Number(seconds) * 1000);
try {
	const r = await client.send(new GetMediaCommand({ StreamName: stream, StartSelector: JSON.parse(selector) }), { abortSignal: abort.signal });
	out.connectedAt = Date.now();
	out.contentType = r.ContentType;
	abort.signal.addEventListener("abort", () => r.Payload.destroy());
	for await (const chunk of r.Payload) {
		out.bytes += chunk.length;
		file.write(chunk);
	}
} catch (e) {
	if (!abort.signal.aborted) {
		out.error = { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
	}
}
clearTimeout(timer);
await new Promise((resolve) => file.end(resolve));
console.log(JSON.stringify(out));
process.exit(0);
