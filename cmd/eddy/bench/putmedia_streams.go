package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// createStreams creates the producers' streams with CreateStream (24 h
// retention, so that the server acknowledges PERSISTED), as a Kinesis
// Video producer application does before PutMedia; a stream that exists
// already is kept.
func (b *putMediaBench) createStreams(ctx context.Context, prods []*pmProducer) error {
	kv := kinesisvideo.New(kinesisvideo.Options{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "bench"}, nil
		}),
		BaseEndpoint: aws.String(b.ib.url),
		HTTPClient:   ingestGuardedClient{b.ib.hc},
	})
	for _, p := range prods {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := kv.CreateStream(cctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(p.name), DataRetentionInHours: aws.Int32(24)})
		cancel()
		var inUse *kvtypes.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("CreateStream %s: %w", p.name, err)
		}
	}
	return nil
}

// listAcked lists every producer's stream by server timestamp from since
// to a minute from now: the fragment numbers ListFragments shows, by
// stream, to check the PERSISTED acks against.
func (b *putMediaBench) listAcked(ctx context.Context, prods []*pmProducer, since time.Time) (map[string]map[string]bool, []string) {
	out := map[string]map[string]bool{}
	var problems []string
	for _, p := range prods {
		fr, err := ListFragments(ctx, b.ib.am, p.name, since.Add(-time.Second), time.Now().Add(time.Minute))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: ListFragments failed: %v", p.name, err))
			continue
		}
		m := map[string]bool{}
		for _, f := range fr {
			m[aws.ToString(f.FragmentNumber)] = true
		}
		out[p.name] = m
	}
	return out, problems
}
