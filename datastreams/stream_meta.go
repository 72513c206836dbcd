package datastreams

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
)

// Stream and shard status values, as the Kinesis API names them.
const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
	StatusUpdating = "UPDATING"

	ModeProvisioned = "PROVISIONED"
	ModeOnDemand    = "ON_DEMAND"
)

// streamMeta is what a stream persists in stream.json. It changes only on
// control-plane operations; records live in the shard logs.
type streamMeta struct {
	Name           string            `json:"name"`
	Created        time.Time         `json:"created"`
	Status         string            `json:"status"`
	Mode           string            `json:"mode"`
	RetentionHours int               `json:"retentionHours"`
	RetentionBytes int64             `json:"retentionBytes,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	NextShardIndex int               `json:"nextShardIndex"`
	Shards         []shardMeta       `json:"shards"`
	Consumers      []Consumer        `json:"consumers,omitempty"`
	EncryptionType string            `json:"encryptionType,omitempty"`
	KeyID          string            `json:"keyId,omitempty"`
	Metrics        []string          `json:"shardLevelMetrics,omitempty"`
	// Kind tells data streams ("") from the logs of video streams
	// (StreamKindVideo) and their event streams (StreamKindEvents).
	Kind string `json:"kind,omitempty"`
	// Ext is metadata owned by the package that created the stream (the
	// video layer keeps its Kinesis Video fields here); the core keeps it
	// verbatim.
	Ext json.RawMessage `json:"ext,omitempty"`
}

// Stream kinds.
const (
	StreamKindVideo  = "video"  // the fragment log of a video stream
	StreamKindEvents = "events" // the {name}.events stream of a video stream
)

type shardMeta struct {
	Index          int       `json:"index"`
	Parent         int       `json:"parent"`         // -1: none
	AdjacentParent int       `json:"adjacentParent"` // -1: none
	Start          string    `json:"start"`
	End            string    `json:"end"`
	Created        time.Time `json:"created"`
	Closed         time.Time `json:"closed,omitzero"`
	EndSeq         uint64    `json:"endSeq,omitempty"`
}

const metaFile = "stream.json"

// saveMeta writes stream.json atomically: temp file, fsync, rename, fsync dir.
func saveMeta(dir string, m *streamMeta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, metaFile), b, 0o644)
}

func loadMeta(dir string) (*streamMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	var m streamMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, metaFile), err)
	}
	return &m, nil
}

var shardIDs = func() []string {
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("shardId-%012d", i)
	}
	return ids
}()

// ShardID is the Kinesis name of shard index i.
func ShardID(i int) string {
	if i >= 0 && i < len(shardIDs) {
		return shardIDs[i]
	}
	return fmt.Sprintf("shardId-%012d", i)
}

// ParseShardID returns the index named by a shard id. Kinesis accepts the
// bare number too.
func ParseShardID(id string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(id, "shardId-%d", &n); err == nil && len(id) == len("shardId-")+12 {
		return n, n >= 0
	}
	if _, err := fmt.Sscanf(id, "%d", &n); err == nil && fmt.Sprint(n) == id {
		return n, n >= 0
	}
	return 0, false
}
