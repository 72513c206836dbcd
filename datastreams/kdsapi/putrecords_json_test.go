package kdsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// checkPutRecordsDecode decodes body with json.Unmarshal and with
// decodePutRecordsJSON and fails t unless both error or both give equal
// results. It reports whether the fast path took body, and json.Unmarshal's
// error.
func checkPutRecordsDecode(t testing.TB, body []byte) (fast bool, err error) {
	t.Helper()
	var want putRecordsIn
	err = json.Unmarshal(body, &want)

	// Decode a copy and clobber it afterwards: the result must not alias it.
	c := bytes.Clone(body)
	var got putRecordsIn
	gotErr := decodePutRecordsJSON(c, &got)
	for i := range c {
		c[i] = '!'
	}
	if (gotErr == nil) != (err == nil) {
		t.Fatalf("body %.300q: decodePutRecordsJSON error %v, json.Unmarshal error %v", body, gotErr, err)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("body %.300q:\n decodePutRecordsJSON gives %.500s\n json.Unmarshal gives       %.500s", body, describePutRecords(got), describePutRecords(want))
	}

	var f putRecordsIn
	fast = decodePutRecordsFast(body, &f)
	switch {
	case fast && err != nil:
		t.Fatalf("body %.300q: fast path took a body json.Unmarshal rejects (%v)", body, err)
	case fast && !reflect.DeepEqual(f, want):
		t.Fatalf("body %.300q: fast path gives %.500s, json.Unmarshal %.500s", body, describePutRecords(f), describePutRecords(want))
	case !fast && !reflect.DeepEqual(f, putRecordsIn{}):
		t.Fatalf("body %.300q: fast path declined but changed its output: %.500s", body, describePutRecords(f))
	}
	if fast {
		for i, r := range f.Records {
			if cap(r.Data) != len(r.Data) {
				t.Fatalf("body %.300q: record %d Data has spare capacity %d > %d, shared with the next", body, i, cap(r.Data), len(r.Data))
			}
		}
	}
	return fast, err
}

// describePutRecords renders v for failure messages: json.Marshal keeps
// every distinction DeepEqual makes here (nil vs empty Data and Records,
// nil vs empty strings).
func describePutRecords(v putRecordsIn) string {
	b, err := json.Marshal(struct {
		StreamName, StreamARN *string
		Records               []putRecordsEntry
	}{v.StreamName, v.StreamARN, v.Records})
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// sdkPutRecordsBody is what the Go SDK v2 sends: Records first, compact.
func sdkPutRecordsBody(n, size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		data := bytes.Repeat([]byte{byte(i)}, size)
		fmt.Fprintf(&b, `{"Data":%q,"PartitionKey":"partition-key-%d"}`, base64.StdEncoding.EncodeToString(data), i)
	}
	b.WriteString(`],"StreamName":"stream-1"}`)
	return b.Bytes()
}

const (
	sdkBody   = `{"Records":[{"Data":"aGVsbG8=","PartitionKey":"pk1"},{"Data":"d29ybGQ=","PartitionKey":"pk2"}],"StreamName":"s"}`
	boto3Body = `{"StreamName": "s", "Records": [{"Data": "aGVsbG8=", "PartitionKey": "pk1"}, {"Data": "AAEC/w==", "PartitionKey": "pk2", "ExplicitHashKey": "1234"}]}`
)

var putRecordsJSONCases = []struct {
	name    string
	body    string
	fast    bool // the fast path takes it
	wantErr bool // json.Unmarshal rejects it
}{
	// Taken by the fast path.
	{"go sdk v2 compact", sdkBody, true, false},
	{"boto3 spaced", boto3Body, true, false},
	{"pretty printed", "\r\n\t{\n\t\"StreamARN\" :\t\"arn:aws:kinesis:us-east-1:123456789012:stream/s\" ,\n\t\"Records\" : [ { \"PartitionKey\" : \"k\" , \"Data\" : \"QQ==\" } ]\n}\n\t ", true, false},
	{"explicit hash keys", `{"StreamName":"s","Records":[{"Data":"AA==","PartitionKey":"a","ExplicitHashKey":"0"},{"Data":"AQ==","PartitionKey":"b","ExplicitHashKey":"340282366920938463463374607431768211455"}]}`, true, false},
	{"name and arn", `{"StreamName":"s","StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","Records":[{"Data":"AA==","PartitionKey":"k"}]}`, true, false},
	{"nulls", `{"StreamName":null,"StreamARN":null,"Records":[{"Data":null,"PartitionKey":null,"ExplicitHashKey":null}]}`, true, false},
	{"records null", `{"StreamName":"s","Records":null}`, true, false},
	{"record null", `{"StreamName":"s","Records":[null,{"Data":"AA==","PartitionKey":"k"},null]}`, true, false},
	{"records empty", `{"StreamName":"s","Records":[]}`, true, false},
	{"record empty", `{"Records":[{},{ }]}`, true, false},
	{"empty object", `{}`, true, false},
	{"empty strings", `{"StreamName":"","Records":[{"Data":"","PartitionKey":"","ExplicitHashKey":""}]}`, true, false},
	{"no records key", `{"StreamName":"s"}`, true, false},
	{"unknown keys", `{"Foo":{"a":[1,-2.5e+3,0,-0.0,1E9,true,false,null,{"b":"\u00e9\n\"\\\/\b\f\r\t","":[]}]},"StreamName":"s","Records":[{"Data":"","PartitionKey":"k","X":[[]],"Y":0,"Z":{}}],"Bar":"é` + "\xff\x80" + `"}`, true, false},
	{"unknown key like a field", `{"StreamNames":"x","Stream":"y","Record":[],"Records":[{"Datum":1,"PartitionKeys":2,"Data":"AA==","PartitionKey":"k"}]}`, true, false},
	{"printable ascii", `{"StreamName":"a-zA-Z0-9_.","Records":[{"Data":"AA==","PartitionKey":" !#$%&'()*+,-./:;<=>?@[]^_{|}~` + "`" + `"}]}`, true, false},
	{"trailing whitespace", sdkBody + " \n\t\r", true, false},
	{"repeated unknown keys", `{"x":1,"x":2,"Records":[{"y":1,"y":[],"Data":"AA==","PartitionKey":"k"}]}`, true, false},

	// Valid, but left to json.Unmarshal.
	{"escape in stream name", `{"StreamName":"s\u0031","Records":[]}`, false, false},
	{"escaped slash in partition key", `{"Records":[{"Data":"AA==","PartitionKey":"a\/b"}]}`, false, false},
	{"escape in data", `{"Records":[{"Data":"\u0041QID","PartitionKey":"k"}]}`, false, false},
	{"escaped newline in data", `{"Records":[{"Data":"aGVs\nbG8=","PartitionKey":"k"}]}`, false, false},
	{"escape in known key", `{"Stream\u004eame":"s"}`, false, false},
	{"escape in unknown key", `{"\u0078":1}`, false, false},
	{"non-ascii partition key", `{"Records":[{"Data":"AA==","PartitionKey":"é"}]}`, false, false},
	{"invalid utf-8 partition key", "{\"Records\":[{\"Data\":\"AA==\",\"PartitionKey\":\"\xff\xfe\"}]}", false, false},
	{"lower case key", `{"streamname":"s","records":[{"data":"AA==","partitionkey":"k","explicithashkey":"1"}]}`, false, false},
	{"upper case key", `{"STREAMARN":"a","Records":[{"DATA":"AA==","PartitionKey":"k"}]}`, false, false},
	{"unicode fold key", `{"ſtreamName":"s","Records":[{"Data":"AA==","PartitionKey":"K"}]}`, false, false},
	{"kelvin sign key", `{"Records":[{"Data":"AA==","PartitionKey":"k","ExplicitHashKey":"1"}],"StreamName":"s","Partition\u212aey":"x"}`, false, false},
	{"duplicate stream name", `{"StreamName":"a","StreamName":"b"}`, false, false},
	{"duplicate records", `{"Records":[{"Data":"AA==","PartitionKey":"k"},{"Data":"AQ==","PartitionKey":"j"}],"Records":[{"PartitionKey":"x"}]}`, false, false},
	{"duplicate data", `{"Records":[{"Data":"AA==","Data":null,"PartitionKey":"k"}]}`, false, false},
	{"top-level null", `null`, false, false},
	{"data as array of numbers", `{"Records":[{"Data":[1,2,255],"PartitionKey":"k"}]}`, false, false},
	{"deep unknown value", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, false, false},

	// Rejected (by json.Unmarshal, after the fast path declines).
	{"empty body", ``, false, true},
	{"whitespace body", " \n", false, true},
	{"top-level array", `[]`, false, true},
	{"top-level string", `"x"`, false, true},
	{"byte order mark", "\xef\xbb\xbf" + sdkBody, false, true},
	{"trailing garbage", sdkBody + `x`, false, true},
	{"two objects", `{}{}`, false, true},
	{"trailing comma", `{"StreamName":"s",}`, false, true},
	{"trailing comma in records", `{"Records":[{"Data":"AA==","PartitionKey":"k"},]}`, false, true},
	{"missing colon", `{"StreamName" "s"}`, false, true},
	{"single quotes", `{'StreamName':'s'}`, false, true},
	{"stream name number", `{"StreamName":1}`, false, true},
	{"stream name bool", `{"StreamName":true}`, false, true},
	{"stream name object", `{"StreamName":{}}`, false, true},
	{"partition key number", `{"Records":[{"Data":"AA==","PartitionKey":7}]}`, false, true},
	{"data number", `{"Records":[{"Data":0,"PartitionKey":"k"}]}`, false, true},
	{"data array out of range", `{"Records":[{"Data":[256],"PartitionKey":"k"}]}`, false, true},
	{"records object", `{"Records":{"Data":"AA=="}}`, false, true},
	{"records string", `{"Records":"x"}`, false, true},
	{"record string", `{"Records":["x"]}`, false, true},
	{"record array", `{"Records":[[]]}`, false, true},
	{"base64 unpadded", `{"Records":[{"Data":"aGVsbG8","PartitionKey":"k"}]}`, false, true},
	{"base64 url alphabet", `{"Records":[{"Data":"-_8=","PartitionKey":"k"}]}`, false, true},
	{"base64 too much padding", `{"Records":[{"Data":"a===","PartitionKey":"k"}]}`, false, true},
	{"base64 space", `{"Records":[{"Data":"aGVs bG8=","PartitionKey":"k"}]}`, false, true},
	{"base64 bad escape", `{"Records":[{"Data":"\x41","PartitionKey":"k"}]}`, false, true},
	{"raw newline in data", "{\"Records\":[{\"Data\":\"aGVs\nbG8=\",\"PartitionKey\":\"k\"}]}", false, true},
	{"four raw newlines in data", "{\"Records\":[{\"Data\":\"AAAA\n\n\n\nAAAA\",\"PartitionKey\":\"k\"}]}", false, true},
	{"raw crlf after padding", "{\"Records\":[{\"Data\":\"AA==\r\n\r\n\",\"PartitionKey\":\"k\"}]}", false, true},
	{"raw newlines before padding", "{\"Records\":[{\"Data\":\"AAA\n\n\n\n=\",\"PartitionKey\":\"k\"}]}", false, true},
	{"raw cr in data", "{\"Records\":[{\"Data\":\"aGVs\rbG8=\",\"PartitionKey\":\"k\"}]}", false, true},
	{"raw tab in partition key", "{\"Records\":[{\"Data\":\"AA==\",\"PartitionKey\":\"a\tb\"}]}", false, true},
	{"raw control in unknown string", "{\"x\":\"\x01\"}", false, true},
	{"bad escape in unknown string", `{"x":"\x"}`, false, true},
	{"short unicode escape", `{"x":"\u12"}`, false, true},
	{"leading zero", `{"x":01}`, false, true},
	{"bare minus", `{"x":-}`, false, true},
	{"bare dot", `{"x":1.}`, false, true},
	{"bare exponent", `{"x":1e}`, false, true},
	{"plus sign", `{"x":+1}`, false, true},
	{"nan", `{"x":NaN}`, false, true},
	{"bad literal", `{"x":nul}`, false, true},
	{"literal suffix", `{"StreamName":nullx}`, false, true},
	{"unclosed data", `{"Records":[{"Data":"AA==`, false, true},
	{"too deep", `{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, false, true},
}

func TestDecodePutRecordsJSON(t *testing.T) {
	for _, tc := range putRecordsJSONCases {
		t.Run(tc.name, func(t *testing.T) {
			fast, err := checkPutRecordsDecode(t, []byte(tc.body))
			if fast != tc.fast {
				t.Errorf("fast path took it: %v, want %v", fast, tc.fast)
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("json.Unmarshal error %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}

func TestDecodePutRecordsJSONValues(t *testing.T) {
	var in putRecordsIn
	if err := decodePutRecordsJSON([]byte(boto3Body), &in); err != nil {
		t.Fatal(err)
	}
	if in.StreamName == nil || *in.StreamName != "s" || in.StreamARN != nil || len(in.Records) != 2 {
		t.Fatalf("got %s", describePutRecords(in))
	}
	r0, r1 := in.Records[0], in.Records[1]
	if string(r0.Data) != "hello" || *r0.PartitionKey != "pk1" || r0.ExplicitHashKey != nil {
		t.Fatalf("record 0: %s", describePutRecords(in))
	}
	if !bytes.Equal(r1.Data, []byte{0, 1, 2, 0xff}) || *r1.PartitionKey != "pk2" || *r1.ExplicitHashKey != "1234" {
		t.Fatalf("record 1: %s", describePutRecords(in))
	}
	// Appending to one record's Data leaves the next alone.
	_ = append(r0.Data, 'x', 'x', 'x', 'x')
	if !bytes.Equal(r1.Data, []byte{0, 1, 2, 0xff}) {
		t.Fatalf("appending to record 0 changed record 1: %x", r1.Data)
	}

	// "" decodes to empty non-nil Data, null to nil, as in encoding/json.
	in = putRecordsIn{}
	if err := decodePutRecordsJSON([]byte(`{"Records":[{"Data":""},{"Data":null}]}`), &in); err != nil {
		t.Fatal(err)
	}
	if in.Records[0].Data == nil || len(in.Records[0].Data) != 0 || in.Records[1].Data != nil {
		t.Fatalf("got %#v", in.Records)
	}
}

func TestDecodePutRecordsJSONBig(t *testing.T) {
	for _, size := range []int{1 << 20, 1<<20 - 1, 1<<20 - 2} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			body := sdkPutRecordsBody(3, size)
			if fast, err := checkPutRecordsDecode(t, body); !fast || err != nil {
				t.Fatalf("fast %v, error %v", fast, err)
			}
			// A bad byte at the very end of a 1 MiB Data is still noticed.
			i := bytes.Index(body, []byte(`","PartitionKey"`))
			bad := bytes.Clone(body)
			bad[i-1] = '!'
			if fast, err := checkPutRecordsDecode(t, bad); fast || err == nil {
				t.Fatalf("fast %v, error %v", fast, err)
			}
		})
	}
	t.Run("500x100", func(t *testing.T) {
		if fast, err := checkPutRecordsDecode(t, sdkPutRecordsBody(500, 100)); !fast || err != nil {
			t.Fatalf("fast %v, error %v", fast, err)
		}
	})
}

// Every prefix of a valid body, and every body with a byte inserted, decodes
// (or fails) as json.Unmarshal does.
func TestDecodePutRecordsJSONTruncatedAndInserted(t *testing.T) {
	bodies := []string{sdkBody, boto3Body}
	for _, tc := range putRecordsJSONCases {
		if tc.name == "unknown keys" || tc.name == "nulls" || tc.name == "pretty printed" || tc.name == "explicit hash keys" {
			bodies = append(bodies, tc.body)
		}
	}
	for _, body := range bodies {
		for i := range len(body) + 1 {
			_, _ = checkPutRecordsDecode(t, []byte(body[:i]))
			for _, c := range []string{" ", "\n", ",", "]", "}", `"`, `\`, "x", "A", "=", "0", "\x00", "\xc3"} {
				_, _ = checkPutRecordsDecode(t, []byte(body[:i]+c+body[i:]))
			}
		}
	}
}

func FuzzDecodePutRecordsJSON(f *testing.F) {
	for _, tc := range putRecordsJSONCases {
		if len(tc.body) < 1000 {
			f.Add([]byte(tc.body))
		}
	}
	f.Add(sdkPutRecordsBody(3, 10))
	f.Add(sdkPutRecordsBody(2, 0))
	f.Add(sdkPutRecordsBody(1, 1))
	f.Add(sdkPutRecordsBody(1, 2))
	f.Add([]byte(sdkBody[:40]))
	f.Add([]byte(`{"Records":[{"Data":"AAAA","PartitionKey":"k","ExplicitHashKey":"1"},null,{}],"StreamARN":"a","StreamName":"n","X":[{"y":[-1.5e-3,"\ud834\udd1e"]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = checkPutRecordsDecode(t, body)
	})
}

func BenchmarkDecodePutRecords(b *testing.B) {
	for _, shape := range []struct{ n, size int }{{500, 100}, {5, 1 << 20}} {
		body := sdkPutRecordsBody(shape.n, shape.size)
		name := fmt.Sprintf("%dx%dB", shape.n, shape.size)
		b.Run(name+"/json.Unmarshal", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var in putRecordsIn
				if err := json.Unmarshal(body, &in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/decodePutRecordsJSON", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var in putRecordsIn
				if err := decodePutRecordsJSON(body, &in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
