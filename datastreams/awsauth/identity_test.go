package awsauth

import "testing"

func TestAllowed(t *testing.T) {
	c, err := NewCredentials([]Identity{
		{AccessKeyID: "AKIDCAMERAS", Secret: "camerasecret", Rules: []Rule{
			{Actions: []string{"kinesisvideo:PutMedia", "rtsp:publish", "webrtc:publish"}, Streams: []string{"cam-*"}}}},
		{AccessKeyID: "AKIDML", Secret: "mlsecret1", Rules: []Rule{
			{Actions: []string{"kinesisvideo:Get*", "kinesisvideo:List*", "kinesis:Get*", "kinesis:PutRecord*"}, Streams: []string{"*"}}}},
		{AccessKeyID: "AKIDDOOR", Secret: "doorsecret", Rules: []Rule{
			{Actions: []string{"*"}, Streams: []string{"door?"}}}},
	}, ".events")
	if err != nil {
		t.Fatal(err)
	}
	cams, _ := c.Lookup("AKIDCAMERAS")
	ml, _ := c.Lookup("AKIDML")
	door, _ := c.Lookup("AKIDDOOR")
	for _, tc := range []struct {
		id             *Identity
		action, stream string
		want           bool
	}{
		{cams, "rtsp:publish", "cam-1", true},
		{cams, "RTSP:Publish", "cam-1", true}, // actions ignore case, as IAM's do
		{cams, "rtsp:publish", "Cam-1", false},
		{cams, "rtsp:read", "cam-1", false},
		{cams, "rtsp:publish", "lobby", false},
		{cams, "kinesis:PutRecords", "cam-1.events", false},
		{ml, "kinesis:PutRecords", "cam-1.events", true},
		{ml, "kinesis:PutRecord", "x", true},
		{ml, "kinesis:DeleteStream", "x", false},
		{ml, "kinesisvideo:GetClip", "x", true},
		{door, "kinesis:PutRecords", "door1.events", true}, // follows door1's pattern
		{door, "kinesis:PutRecords", "door12", false},
		{door, "eddy:admin", "", true},
		{cams, "kinesisvideo:ListStreams", "", false},
		{ml, "kinesisvideo:ListStreams", "", true},
	} {
		if got := tc.id.Allowed(tc.action, tc.stream); got != tc.want {
			t.Errorf("%s %s on %q = %v, want %v", tc.id.AccessKeyID, tc.action, tc.stream, got, tc.want)
		}
	}
	if _, ok := c.Lookup("AKIDNOPE"); ok {
		t.Error("unknown key found")
	}
}

func TestCredentialsCheck(t *testing.T) {
	ok := Rule{Actions: []string{"kinesis:*"}, Streams: []string{"*"}}
	for name, ids := range map[string][]Identity{
		"bad key":        {{AccessKeyID: "A K", Secret: "12345678", Rules: []Rule{ok}}},
		"short secret":   {{AccessKeyID: "AKID", Secret: "1234", Rules: []Rule{ok}}},
		"no rule":        {{AccessKeyID: "AKID", Secret: "12345678"}},
		"bad action":     {{AccessKeyID: "AKID", Secret: "12345678", Rules: []Rule{{Actions: []string{"PutRecords"}, Streams: []string{"*"}}}}},
		"unknown svc":    {{AccessKeyID: "AKID", Secret: "12345678", Rules: []Rule{{Actions: []string{"s3:GetObject"}, Streams: []string{"*"}}}}},
		"bad stream":     {{AccessKeyID: "AKID", Secret: "12345678", Rules: []Rule{{Actions: []string{"kinesis:*"}, Streams: []string{"a/b"}}}}},
		"no streams":     {{AccessKeyID: "AKID", Secret: "12345678", Rules: []Rule{{Actions: []string{"kinesis:*"}}}}},
		"duplicate keys": {{AccessKeyID: "AKID", Secret: "12345678", Rules: []Rule{ok}}, {AccessKeyID: "AKID", Secret: "87654321", Rules: []Rule{ok}}},
	} {
		if _, err := NewCredentials(ids, ""); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := NewCredentials([]Identity{{AccessKeyID: "AKID", Secret: "12345678", Rules: []Rule{ok}}}, "")
	if err != nil || c.Len() != 1 {
		t.Fatal(err)
	}
	if err := c.Replace([]Identity{{AccessKeyID: "A K"}}, ""); err == nil || c.Len() != 1 {
		t.Errorf("a bad replacement: %v, %d identities", err, c.Len())
	}
}
