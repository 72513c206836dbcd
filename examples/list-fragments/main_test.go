package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestListFragments publishes 4 s of the test clip over RTSP, pauses 3 s,
// publishes 4 s more, and lists the stream's fragments a page of one
// fragment at a time, by producer and by server time: the fragments
// ListFragments gives, each once, in time order, one gap between the two
// publications, and a summary that adds them up.
func TestListFragments(t *testing.T) {
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	publish := func() {
		pub := &rtspclient.FilePublisher{URL: e.RTSPURL("door"), File: filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4"), Duration: 4 * time.Second}
		if err := pub.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	from := time.Now().Add(-time.Minute)
	publish()
	time.Sleep(3 * time.Second)
	publish()
	to := time.Now().Add(time.Minute)
	archive := e.ArchivedMedia()
	// A publication's last fragment is stored once the publisher has gone:
	// wait for the 8 s.
	var want *kinesisvideoarchivedmedia.ListFragmentsOutput
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		want, err = archive.ListFragments(ctx, &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String("door"),
			FragmentSelector: &types.FragmentSelector{FragmentSelectorType: types.FragmentSelectorTypeProducerTimestamp,
				TimestampRange: &types.TimestampRange{StartTimestamp: aws.Time(from), EndTimestamp: aws.Time(to)}}})
		if err != nil {
			t.Fatal(err)
		}
		var recorded int64
		for _, f := range want.Fragments {
			recorded += f.FragmentLengthInMilliseconds
		}
		if recorded >= 8000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ms recorded in %d fragments; want 4 s twice", recorded, len(want.Fragments))
		}
	}
	var bytesWant int64
	for _, f := range want.Fragments {
		bytesWant += f.FragmentSizeInBytes
	}
	line := regexp.MustCompile(`^(\d+)  (\S+)  +\S+  +(\d+) bytes$`)
	for _, serverTime := range []bool{false, true} {
		var out bytes.Buffer
		onePerPage := func(o *kinesisvideoarchivedmedia.ListFragmentsPaginatorOptions) { o.Limit = 1 }
		if err := listFragments(ctx, archive, "door", from, to, serverTime, &out, onePerPage); err != nil {
			t.Fatal(err)
		}
		t.Logf("server time %v:\n%s", serverTime, out.String())
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		listed := map[string]bool{}
		last, gaps := "", 0
		for _, l := range lines[:len(lines)-1] {
			if strings.HasPrefix(l, "gap of ") {
				gaps++
				continue
			}
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("line %q", l)
			}
			if m[2] < last { // the same layout, so text order is time order
				t.Errorf("%s listed after %s", m[2], last)
			}
			last = m[2]
			if listed[m[1]] {
				t.Errorf("fragment %s listed twice", m[1])
			}
			listed[m[1]] = true
		}
		for _, f := range want.Fragments {
			if !listed[aws.ToString(f.FragmentNumber)] {
				t.Errorf("fragment %s not listed", aws.ToString(f.FragmentNumber))
			}
		}
		if len(listed) != len(want.Fragments) || gaps != 1 {
			t.Errorf("%d fragments and %d gaps listed; want %d and the pause between the publications", len(listed), gaps, len(want.Fragments))
		}
		summary := fmt.Sprintf("%d fragments, ", len(want.Fragments))
		if s := lines[len(lines)-1]; !strings.HasPrefix(s, summary) || !strings.HasSuffix(s, fmt.Sprintf(" recorded, %d bytes, 1 gaps", bytesWant)) {
			t.Errorf("summary %q; want %q…, %d bytes, 1 gaps", s, summary, bytesWant)
		}
	}
}

// TestPrintFragmentsOrder: fragments of a camera whose clock went back an
// hour between two recordings are printed in the order of the timestamp
// they were selected by, with that timestamp: by producer time the later
// recording comes first, by server time it comes last.
func TestPrintFragmentsOrder(t *testing.T) {
	at := func(s string) *time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return &tm
	}
	fragment := func(number, producer, server string) types.Fragment {
		return types.Fragment{FragmentNumber: aws.String(number), ProducerTimestamp: at(producer), ServerTimestamp: at(server),
			FragmentLengthInMilliseconds: 2000, FragmentSizeInBytes: 100}
	}
	// As ListFragments may answer: in no particular order.
	fragments := []types.Fragment{
		fragment("3", "2026-12-07T09:00:00Z", "2026-12-07T10:00:10Z"), // after the clock went back
		fragment("1", "2026-12-07T10:00:00Z", "2026-12-07T10:00:00Z"),
		fragment("2", "2026-12-07T10:00:02Z", "2026-12-07T10:00:02Z"),
	}
	for _, c := range []struct {
		serverTime bool
		want       string
	}{
		{false, "3 09:00:00 gap 1 10:00:00 2 10:00:02 "},
		{true, "1 10:00:00 2 10:00:02 3 10:00:10 "},
	} {
		var out bytes.Buffer
		printFragments(&out, slices.Clone(fragments), c.serverTime)
		var got strings.Builder
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if strings.HasPrefix(l, "gap of ") {
				got.WriteString("gap ")
			} else if m := regexp.MustCompile(`^(\d+)  \d{4}-\d\d-\d\dT(\S+)\.000Z  `).FindStringSubmatch(l); m != nil {
				fmt.Fprintf(&got, "%s %s ", m[1], m[2])
			}
		}
		if got.String() != c.want {
			t.Errorf("server time %v: printed\n%s\nwant the fragments and gaps %q", c.serverTime, out.String(), c.want)
		}
	}
}
