package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// boto3Python returns a Python 3 that can import boto3. Debian's
// python3-boto3 lives in /usr/bin/python3, which is preferred over any
// python3 earlier on PATH (pyenv shims usually lack boto3). In CI a
// missing boto3 is a failure, elsewhere a skip.
func boto3Python(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil && p != "/usr/bin/python3" {
		candidates = append(candidates, p)
	}
	var tried []string
	for _, py := range candidates {
		if _, err := os.Stat(py); err != nil {
			continue
		}
		out, err := exec.Command(py, "-c", "import boto3, botocore; print(boto3.__version__, botocore.__version__)").CombinedOutput()
		if err == nil {
			t.Logf("%s: boto3/botocore %s", py, strings.TrimSpace(string(out)))
			return py
		}
		tried = append(tried, fmt.Sprintf("%s: %v: %s", py, err, strings.TrimSpace(lastLine(out))))
	}
	msg := "boto3 is not available (install Debian's python3-boto3)"
	if len(tried) > 0 {
		msg += "; tried " + strings.Join(tried, "; ")
	} else {
		msg += "; no python3 found"
	}
	mediatest.Missing(t, msg)
	return ""
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// boto3Record mirrors record() in testdata/boto3_kds.py.
func boto3Record(i int) (string, []byte) {
	data := fmt.Appendf(nil, "rec-%02d:", i)
	for j := 0; j < i*5; j++ {
		data = append(data, byte((i*37+j*11)%256))
	}
	data = append(data, 0xff, 0xfe, 0x80, 0x00)
	return fmt.Sprintf("pk-%d-\u00e9", i), data
}

type boto3Summary struct {
	Boto3      string            `json:"boto3"`
	Botocore   string            `json:"botocore"`
	Problems   []string          `json:"problems"`
	OpenShards int               `json:"open_shards"`
	Put        int               `json:"put"`
	Failed     int               `json:"failed"`
	Shards     []string          `json:"shards"`
	Read       int               `json:"read"`
	PerShard   map[string]int    `json:"per_shard"`
	Errors     map[string]string `json:"errors"`
	Records    []struct {
		Shard string `json:"shard"`
		Seq   string `json:"seq"`
		PK    string `json:"pk"`
		Data  string `json:"data"` // base64
	} `json:"records"`
}

// TestBoto3 runs testdata/boto3_kds.py (boto3, the Python SDK) against a
// real server, then reads the same stream back with the Go SDK and checks
// that both see the same records at the same sequence numbers.
func TestBoto3(t *testing.T) {
	py := boto3Python(t)
	env := servertest.Start(t)
	const stream = "boto3-stream"

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script, err := filepath.Abs(filepath.Join("..", "testdata", "boto3_kds.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, py, script, env.URL, stream)
	// No AWS_* from the environment may redirect or re-sign the calls.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("script stderr:\n%s", stderr.String())
	}
	var sum boto3Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("script: %v; stdout is not a JSON summary (%v):\n%s", runErr, err, stdout.String())
	}
	for _, p := range sum.Problems {
		t.Errorf("boto3: %s", p)
	}
	if runErr != nil {
		t.Errorf("script: %v", runErr)
	}
	t.Logf("boto3 %s, botocore %s: put %d, read %d, per shard %v, errors %v", sum.Boto3, sum.Botocore, sum.Put, sum.Read, sum.PerShard, sum.Errors)

	const n = 50
	if sum.OpenShards != 2 || len(sum.Shards) != 2 {
		t.Errorf("open shards %d, listed %v; want 2", sum.OpenShards, sum.Shards)
	}
	if sum.Put != n || sum.Failed != 0 {
		t.Errorf("put %d records with %d failed; want %d and 0", sum.Put, sum.Failed, n)
	}
	if sum.Read != n || len(sum.Records) != n {
		t.Errorf("read %d (%d listed) records; want %d", sum.Read, len(sum.Records), n)
	}
	if len(sum.PerShard) != 2 {
		t.Errorf("records landed on %d shards (%v); want both", len(sum.PerShard), sum.PerShard)
	}
	wantErrors := map[string]string{
		"describe_missing": "ResourceNotFoundException",
		"put_missing":      "ResourceNotFoundException",
		"create_existing":  "ResourceInUseException",
		"bad_iterator":     "InvalidArgumentException",
	}
	for k, want := range wantErrors {
		if got := sum.Errors[k]; got != want {
			t.Errorf("boto3 error case %s: got %q, want %s", k, got, want)
		}
	}

	// What boto3 read, decoded independently of the script's own checks.
	type loc struct{ shard, seq string }
	byKey := map[string]int{}
	for i := 0; i < n; i++ {
		pk, _ := boto3Record(i)
		byKey[pk] = i
	}
	boto := map[loc]int{}
	for _, r := range sum.Records {
		i, ok := byKey[r.PK]
		if !ok {
			t.Errorf("boto3 read unknown partition key %q", r.PK)
			continue
		}
		data, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if _, want := boto3Record(i); !bytes.Equal(data, want) {
			t.Errorf("record %d: boto3 read %x, want %x", i, data, want)
		}
		boto[loc{r.Shard, r.Seq}] = i
	}

	// The Go SDK must see exactly the same records at the same places.
	kc := env.Kinesis()
	gctx := servertest.Context(t, 30*time.Second)
	shards, err := kc.ListShards(gctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, sh := range shards.Shards {
		it, err := kc.GetShardIterator(gctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		gr, err := kc.GetRecords(gctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range gr.Records {
			seen++
			i, ok := boto[loc{aws.ToString(sh.ShardId), aws.ToString(r.SequenceNumber)}]
			if !ok {
				t.Errorf("Go SDK read %s/%s, which boto3 did not", aws.ToString(sh.ShardId), aws.ToString(r.SequenceNumber))
				continue
			}
			pk, data := boto3Record(i)
			if aws.ToString(r.PartitionKey) != pk || !bytes.Equal(r.Data, data) {
				t.Errorf("Go SDK read record %d as %q/%x, want %q/%x", i, aws.ToString(r.PartitionKey), r.Data, pk, data)
			}
		}
	}
	if seen != len(boto) {
		t.Errorf("Go SDK read %d records, boto3 %d", seen, len(boto))
	}
}
