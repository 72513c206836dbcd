package kdsapi

import "testing"

// FuzzDecodeRequest feeds arbitrary bodies to every operation's decoder in
// both wire formats: decoding may fail, but never panic, and what decodes
// as JSON re-encodes.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"StreamName":"s1","Records":[{"Data":"aGVsbG8=","PartitionKey":"k"}]}`), false)
	f.Add([]byte(`{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1.7e9}`), false)
	f.Add([]byte(`{"ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":"2024-01-01T00:00:00Z"}}`), false)
	if b, err := cborEnc.Marshal(map[string]any{"StreamName": "s", "Data": []byte{1, 2}, "PartitionKey": "p"}); err == nil {
		f.Add(b, true)
	}
	f.Add([]byte{0xa1, 0x69, 'T', 'i', 'm', 'e', 's', 't', 'a', 'm', 'p', 0xc1, 0x1b, 0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0}, true)
	f.Fuzz(func(t *testing.T, body []byte, useCBOR bool) {
		cd := codecJSON
		if useCBOR {
			cd = codecCBOR
		}
		targets := []any{&createStreamIn{}, &putRecordsIn{}, &putRecordIn{}, &getShardIteratorIn{}, &getRecordsIn{},
			&listShardsIn{}, &subscribeIn{}, &listStreamsIn{}, &addTagsIn{}, &consumerIn{}}
		for _, v := range targets {
			if err := cd.decode(body, v); err == nil {
				if _, err := cd.encode(v); err != nil {
					t.Fatalf("%T decoded but does not encode: %v", v, err)
				}
			}
		}
	})
}
