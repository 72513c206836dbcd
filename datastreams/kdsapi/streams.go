package kdsapi

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/eddy-video/eddy/datastreams"
)

// Control-plane operations: streams, shards, retention, tags, monitoring.

// resolve finds the stream a request names by StreamName or StreamARN.
func (a *API) resolve(ref streamRef) (*datastreams.Stream, error) {
	name, err := a.refName(ref)
	if err != nil {
		return nil, err
	}
	return a.dataStream(name)
}

// refName is the name of the stream a request names by StreamName or
// StreamARN (the one resolve finds, and authorization checks).
func (a *API) refName(ref streamRef) (string, error) {
	var v validator
	if !a.reservedName(ref.StreamName) {
		v.name(ref.StreamName, "streamName", false)
	}
	if err := v.err(); err != nil {
		return "", err
	}
	switch {
	case ref.StreamARN != nil:
		name, ok := a.Core.StreamNameFromARN(*ref.StreamARN)
		if !ok {
			return "", errf(datastreams.KindInvalidArgument, "StreamARN %s is not a valid Kinesis stream ARN.", *ref.StreamARN)
		}
		if ref.StreamName != nil && *ref.StreamName != name {
			return "", errf(datastreams.KindInvalidArgument, "StreamName %s and StreamARN %s do not name the same stream.", *ref.StreamName, *ref.StreamARN)
		}
		return name, nil
	case ref.StreamName != nil:
		return *ref.StreamName, nil
	}
	return "", errf(datastreams.KindInvalidArgument, "Either StreamName or StreamARN must be provided.")
}

// reservedName reports whether s names a stream of the layer that owns
// ReservedSuffix (an event stream): up to 256 characters and the suffix,
// past the API's 128, since it follows the name of a video stream.
func (a *API) reservedName(s *string) bool {
	if s == nil || a.ReservedSuffix == "" {
		return false
	}
	base, ok := strings.CutSuffix(*s, a.ReservedSuffix)
	return ok && datastreams.ValidName(base)
}

// dataStream returns a stream the Kinesis Data Streams API may see: the
// logs of video streams are not data streams.
func (a *API) dataStream(name string) (*datastreams.Stream, error) {
	s, err := a.Core.Stream(name)
	if err != nil {
		return nil, err
	}
	if s.Kind() == datastreams.StreamKindVideo {
		return nil, a.Core.StreamNotFound(name)
	}
	return s, nil
}

func ptr[T any](v T) *T { return &v }

func (a *API) createStream(_ context.Context, in *createStreamIn) (*empty, error) {
	var v validator
	v.name(in.StreamName, "streamName", true)
	v.intRange(in.ShardCount, "shardCount", 1, 100000)
	mode := datastreams.ModeProvisioned
	if in.StreamModeDetails != nil {
		mode = in.StreamModeDetails.StreamMode
		if mode != datastreams.ModeProvisioned && mode != datastreams.ModeOnDemand {
			v.add(mode, "streamModeDetails.streamMode", "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]")
		}
	}
	if len(in.Tags) > 50 {
		v.add(len(in.Tags), "tags", "Member must have length less than or equal to 50")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if a.ReservedSuffix != "" && strings.HasSuffix(*in.StreamName, a.ReservedSuffix) {
		return nil, errf(datastreams.KindInvalidArgument, "Stream name %s ends in %q, which is reserved for the event streams of video streams.", *in.StreamName, a.ReservedSuffix)
	}
	shards := 4 // ON_DEMAND streams start with 4 shards, as Kinesis's do
	if in.ShardCount != nil {
		shards = *in.ShardCount
	} else if mode == datastreams.ModeProvisioned {
		return nil, errf(datastreams.KindInvalidArgument, "ShardCount is required for a PROVISIONED stream.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	_, err := a.Core.CreateStream(*in.StreamName, datastreams.CreateOptions{ShardCount: shards, Mode: mode, Tags: in.Tags})
	return &empty{}, err
}

func (a *API) deleteStream(_ context.Context, in *deleteStreamIn) (*empty, error) {
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	if s.Kind() == datastreams.StreamKindEvents {
		return nil, errf(datastreams.KindInUse, "Stream %s under account %s is the event stream of a video stream; it is deleted with the video stream.", s.Name(), a.Core.AccountID)
	}
	return &empty{}, a.Core.DeleteStream(s.Name(), in.EnforceConsumerDeletion)
}

func shardToWire(si datastreams.ShardInfo) shardOut {
	o := shardOut{
		ShardId:             si.ID,
		HashKeyRange:        hashKeyRange{si.Start.String(), si.End.String()},
		SequenceNumberRange: sequenceNumberRange{StartingSequenceNumber: si.StartSeq},
	}
	if si.ParentID != "" {
		o.ParentShardId = ptr(si.ParentID)
	}
	if si.AdjacentID != "" {
		o.AdjacentParentShardId = ptr(si.AdjacentID)
	}
	if si.EndSeq != "" {
		o.SequenceNumberRange.EndingSequenceNumber = ptr(si.EndSeq)
	}
	return o
}

func monitoringToWire(m []string) []enhancedMetrics {
	return []enhancedMetrics{{ShardLevelMetrics: append([]string{}, m...)}}
}

func encryptionOf(in datastreams.Info) (string, *string) {
	if in.EncryptionType == "KMS" {
		return "KMS", ptr(in.KeyID)
	}
	return "NONE", nil
}

func (a *API) describeStream(_ context.Context, in *describeStreamIn) (*describeStreamOut, error) {
	var v validator
	v.intRange(in.Limit, "limit", 1, 10000)
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	info := s.Info()
	limit := 100
	if in.Limit != nil {
		limit = *in.Limit
	}
	shards := []shardOut{}
	more := false
	for _, si := range info.Shards {
		if in.ExclusiveStartShardId != nil {
			if idx, ok := datastreams.ParseShardID(*in.ExclusiveStartShardId); ok && si.Index <= idx {
				continue
			}
		}
		if len(shards) == limit {
			more = true
			break
		}
		shards = append(shards, shardToWire(si))
	}
	enc, key := encryptionOf(info)
	return &describeStreamOut{StreamDescription: streamDescription{
		StreamName: info.Name, StreamARN: info.ARN, StreamStatus: info.Status,
		StreamModeDetails: streamModeDetails{info.Mode}, Shards: shards, HasMoreShards: more,
		RetentionPeriodHours: info.RetentionHours, StreamCreationTimestamp: Ts(info.Created),
		EnhancedMonitoring: monitoringToWire(info.Metrics), EncryptionType: enc, KeyId: key,
	}}, nil
}

func (a *API) describeStreamSummary(_ context.Context, in *streamRef) (*describeStreamSummaryOut, error) {
	s, err := a.resolve(*in)
	if err != nil {
		return nil, err
	}
	info := s.Info()
	enc, key := encryptionOf(info)
	return &describeStreamSummaryOut{StreamDescriptionSummary: streamDescriptionSummary{
		StreamName: info.Name, StreamARN: info.ARN, StreamStatus: info.Status,
		StreamModeDetails: streamModeDetails{info.Mode}, RetentionPeriodHours: info.RetentionHours,
		StreamCreationTimestamp: Ts(info.Created), EnhancedMonitoring: monitoringToWire(info.Metrics),
		EncryptionType: enc, KeyId: key, OpenShardCount: info.OpenShards, ConsumerCount: info.ConsumerCount,
	}}, nil
}

func (a *API) listStreams(ctx context.Context, in *listStreamsIn) (*listStreamsOut, error) {
	var v validator
	v.intRange(in.Limit, "limit", 1, 10000)
	if !a.reservedName(in.ExclusiveStartStreamName) {
		v.name(in.ExclusiveStartStreamName, "exclusiveStartStreamName", false)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	after := ""
	if in.ExclusiveStartStreamName != nil {
		after = *in.ExclusiveStartStreamName
	}
	if in.NextToken != nil {
		if in.ExclusiveStartStreamName != nil {
			return nil, errf(datastreams.KindInvalidArgument, "NextToken and ExclusiveStartStreamName cannot be provided together.")
		}
		scope, last, err := a.Core.ParsePageToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		if scope != "streams" {
			return nil, errf(datastreams.KindInvalidArgument, "Invalid NextToken.")
		}
		after = last
	}
	limit := 100
	if in.Limit != nil {
		limit = *in.Limit
	}
	out := &listStreamsOut{StreamNames: []string{}, StreamSummaries: []streamSummary{}}
	for _, s := range a.Core.Streams() {
		if s.Name() <= after || s.Kind() == datastreams.StreamKindVideo || !a.mayList(ctx, s.Name()) {
			continue
		}
		if len(out.StreamNames) == limit {
			out.HasMoreStreams = true
			out.NextToken = ptr(a.Core.PageToken("streams", out.StreamNames[len(out.StreamNames)-1]))
			break
		}
		info := s.Info()
		out.StreamNames = append(out.StreamNames, info.Name)
		out.StreamSummaries = append(out.StreamSummaries, streamSummary{
			StreamName: info.Name, StreamARN: info.ARN, StreamStatus: info.Status,
			StreamModeDetails: streamModeDetails{info.Mode}, StreamCreationTimestamp: Ts(info.Created),
		})
	}
	return out, nil
}

// listShards pages through a stream's shards, optionally filtered by
// position in the stream's history (ShardFilter).
func (a *API) listShards(_ context.Context, in *listShardsIn) (*listShardsOut, error) {
	var v validator
	v.intRange(in.MaxResults, "maxResults", 1, 10000)
	if err := v.err(); err != nil {
		return nil, err
	}
	ref := in.streamRef
	afterIdx := -1
	filter := in.ShardFilter
	if in.NextToken != nil {
		if ref.StreamName != nil {
			return nil, errf(datastreams.KindInvalidArgument, "NextToken and StreamName cannot be provided together.")
		}
		scope, last, err := a.Core.ParsePageToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		name, rest, _ := strings.Cut(scope, "|")
		ref = streamRef{StreamName: &name}
		idx, ok := datastreams.ParseShardID(last)
		if !ok {
			return nil, errf(datastreams.KindInvalidArgument, "Invalid NextToken.")
		}
		afterIdx = idx
		if rest != "" {
			// The filter travels inside the token.
			typ, ts, _ := strings.Cut(rest, "@")
			filter = &shardFilter{Type: typ}
			if ts != "" {
				if ms, err := parseInt64(ts); err == nil {
					filter.Timestamp = Ts(time.UnixMilli(ms))
				}
			}
		}
	}
	s, err := a.resolve(ref)
	if err != nil {
		return nil, err
	}
	if in.ExclusiveStartShardId != nil {
		idx, ok := datastreams.ParseShardID(*in.ExclusiveStartShardId)
		if !ok {
			return nil, errf(datastreams.KindInvalidArgument, "Invalid ExclusiveStartShardId %s.", *in.ExclusiveStartShardId)
		}
		afterIdx = max(afterIdx, idx)
	}
	info := s.Info()
	keep, filterKey, err := a.shardFilter(info, filter)
	if err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	out := &listShardsOut{Shards: []shardOut{}}
	for _, si := range info.Shards {
		if si.Index <= afterIdx || !keep(si) {
			continue
		}
		if len(out.Shards) == limit {
			scope := info.Name
			if filterKey != "" {
				scope += "|" + filterKey
			}
			out.NextToken = ptr(a.Core.PageToken(scope, out.Shards[len(out.Shards)-1].ShardId))
			break
		}
		out.Shards = append(out.Shards, shardToWire(si))
	}
	return out, nil
}

func parseInt64(s string) (int64, error) {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errf(datastreams.KindInvalidArgument, "not a number")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// shardFilter returns the predicate for a ShardFilter (and a string that
// lets a paging token carry it).
func (a *API) shardFilter(info datastreams.Info, f *shardFilter) (func(datastreams.ShardInfo) bool, string, error) {
	all := func(datastreams.ShardInfo) bool { return true }
	if f == nil {
		return all, "", nil
	}
	openAt := func(t time.Time) func(datastreams.ShardInfo) bool {
		return func(si datastreams.ShardInfo) bool {
			return !si.Created.After(t) && (si.Closed.IsZero() || si.Closed.After(t))
		}
	}
	horizon := a.Core.Now().Add(-time.Duration(info.RetentionHours) * time.Hour)
	if horizon.Before(info.Created) {
		horizon = info.Created
	}
	key := f.Type
	switch f.Type {
	case "AFTER_SHARD_ID":
		if f.ShardId == nil {
			return nil, "", errf(datastreams.KindInvalidArgument, "ShardId is required for the AFTER_SHARD_ID ShardFilter.")
		}
		idx, ok := datastreams.ParseShardID(*f.ShardId)
		if !ok {
			return nil, "", errf(datastreams.KindInvalidArgument, "Invalid ShardId %s.", *f.ShardId)
		}
		return func(si datastreams.ShardInfo) bool { return si.Index > idx }, key, nil
	case "AT_TRIM_HORIZON":
		return openAt(horizon), key, nil
	case "FROM_TRIM_HORIZON":
		return all, key, nil
	case "AT_LATEST":
		return func(si datastreams.ShardInfo) bool { return si.Closed.IsZero() }, key, nil
	case "AT_TIMESTAMP", "FROM_TIMESTAMP":
		if f.Timestamp == nil {
			return nil, "", errf(datastreams.KindInvalidArgument, "Timestamp is required for the %s ShardFilter.", f.Type)
		}
		t := f.Timestamp.Time
		key += "@" + itoa64(t.UnixMilli())
		if f.Type == "AT_TIMESTAMP" {
			if t.Before(info.Created) {
				t = info.Created
			}
			return openAt(t), key, nil
		}
		return func(si datastreams.ShardInfo) bool { return si.Closed.IsZero() || !si.Closed.Before(t) }, key, nil
	}
	return nil, "", errf(datastreams.KindValidation, "1 validation error detected: Value '%s' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]", f.Type)
}

func itoa64(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func (a *API) shardOf(s *datastreams.Stream, id *string, member string) (*datastreams.Shard, error) {
	if id == nil {
		var v validator
		v.required(false, member)
		return nil, v.err()
	}
	idx, ok := datastreams.ParseShardID(*id)
	if !ok {
		return nil, errf(datastreams.KindNotFound, "Could not find shard %s in stream %s under account %s.", *id, s.Name(), a.Core.AccountID)
	}
	return s.Shard(idx)
}

// eventStreamShape refuses an operation that would change the shape of a
// video stream's event stream (its shards, its mode or its retention): it
// keeps one shard, so its sequence numbers index the video's timeline,
// and the video stream's retention.
func (a *API) eventStreamShape(s *datastreams.Stream, op string) error {
	if s.Kind() != datastreams.StreamKindEvents {
		return nil
	}
	return errf(datastreams.KindInvalidArgument, "%s is not supported for stream %s under account %s: it is the event stream of a video stream, which keeps one shard (its sequence numbers index the video's timeline) and the video stream's retention (UpdateDataRetention).", op, s.Name(), a.Core.AccountID)
}

// provisioned resolves the stream of a split or merge, which only
// PROVISIONED streams allow.
func (a *API) provisioned(ref streamRef, op string) (*datastreams.Stream, error) {
	s, err := a.resolve(ref)
	if err != nil {
		return nil, err
	}
	if err := a.eventStreamShape(s, op); err != nil {
		return nil, err
	}
	if s.Info().Mode == datastreams.ModeOnDemand {
		return nil, errf(datastreams.KindInvalidArgument, "%s is not supported for ON_DEMAND streams.", op)
	}
	return s, nil
}

func (a *API) splitShard(_ context.Context, in *splitShardIn) (*empty, error) {
	var v validator
	v.required(in.ShardToSplit != nil, "shardToSplit")
	v.required(in.NewStartingHashKey != nil, "newStartingHashKey")
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.provisioned(in.streamRef, "SplitShard")
	if err != nil {
		return nil, err
	}
	sh, err := a.shardOf(s, in.ShardToSplit, "shardToSplit")
	if err != nil {
		return nil, err
	}
	k, ok := datastreams.ParseHashKey(*in.NewStartingHashKey)
	if !ok {
		return nil, errf(datastreams.KindInvalidArgument, "NewStartingHashKey %s is not a hash key in [0, 2^128-1].", *in.NewStartingHashKey)
	}
	return &empty{}, s.Split(sh.Index, k)
}

func (a *API) mergeShards(_ context.Context, in *mergeShardsIn) (*empty, error) {
	var v validator
	v.required(in.ShardToMerge != nil, "shardToMerge")
	v.required(in.AdjacentShardToMerge != nil, "adjacentShardToMerge")
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.provisioned(in.streamRef, "MergeShards")
	if err != nil {
		return nil, err
	}
	sa, err := a.shardOf(s, in.ShardToMerge, "shardToMerge")
	if err != nil {
		return nil, err
	}
	sb, err := a.shardOf(s, in.AdjacentShardToMerge, "adjacentShardToMerge")
	if err != nil {
		return nil, err
	}
	return &empty{}, s.Merge(sa.Index, sb.Index)
}

func (a *API) updateShardCount(_ context.Context, in *updateShardCountIn) (*updateShardCountOut, error) {
	var v validator
	v.required(in.TargetShardCount != nil, "targetShardCount")
	v.intRange(in.TargetShardCount, "targetShardCount", 1, 100000)
	v.required(in.ScalingType != nil, "scalingType")
	if in.ScalingType != nil && *in.ScalingType != "UNIFORM_SCALING" {
		v.add(*in.ScalingType, "scalingType", "Member must satisfy enum value set: [UNIFORM_SCALING]")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	if err := a.eventStreamShape(s, "UpdateShardCount"); err != nil {
		return nil, err
	}
	cur, err := s.UpdateShardCount(*in.TargetShardCount)
	if err != nil {
		return nil, err
	}
	return &updateShardCountOut{StreamName: s.Name(), StreamARN: a.Core.StreamARN(s.Name()), CurrentShardCount: cur, TargetShardCount: *in.TargetShardCount}, nil
}

func (a *API) retention(in *retentionIn, increase bool) (*empty, error) {
	var v validator
	v.required(in.RetentionPeriodHours != nil, "retentionPeriodHours")
	if err := v.err(); err != nil {
		return nil, err
	}
	h := *in.RetentionPeriodHours
	if h < datastreams.MinKDSRetentionHours {
		return nil, errf(datastreams.KindInvalidArgument, "Minimum allowed retention period is %d hours. Requested retention period (%d hours) is too short.", datastreams.MinKDSRetentionHours, h)
	}
	if h > datastreams.MaxKDSRetentionHours {
		return nil, errf(datastreams.KindInvalidArgument, "Maximum allowed retention period is %d hours. Requested retention period (%d hours) is too long.", datastreams.MaxKDSRetentionHours, h)
	}
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	op := "DecreaseStreamRetentionPeriod"
	if increase {
		op = "IncreaseStreamRetentionPeriod"
	}
	if err := a.eventStreamShape(s, op); err != nil {
		return nil, err
	}
	return &empty{}, s.SetRetention(h, increase)
}

func (a *API) increaseRetention(_ context.Context, in *retentionIn) (*empty, error) {
	return a.retention(in, true)
}

func (a *API) decreaseRetention(_ context.Context, in *retentionIn) (*empty, error) {
	return a.retention(in, false)
}

const maxTags = 50

func validateTags(tags map[string]string) error {
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 {
			return errf(datastreams.KindInvalidArgument, "Tag key %q must be 1 to 128 characters long.", k)
		}
		if len(v) > 256 {
			return errf(datastreams.KindInvalidArgument, "Tag value for key %q must be at most 256 characters long.", k)
		}
		if strings.HasPrefix(k, "aws:") {
			return errf(datastreams.KindInvalidArgument, "Tag key %q uses the reserved prefix aws:.", k)
		}
		if k == datastreams.HotTag {
			if _, err := datastreams.ParseHot(v); err != nil {
				return errf(datastreams.KindInvalidArgument, "The value of tag %s is %q: it must be a duration of 0s or more, such as 0s (local copies go once uploaded), 90m or 36h.", k, v)
			}
		}
	}
	return nil
}

func (a *API) addTags(s *datastreams.Stream, tags map[string]string) error {
	if len(tags) == 0 {
		var v validator
		v.required(false, "tags")
		return v.err()
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	return s.UpdateTags(func(merged map[string]string) error {
		for k, v := range tags {
			merged[k] = v
		}
		if len(merged) > maxTags {
			return errf(datastreams.KindLimit, "Failed to add tags to stream %s under account %s because a given stream cannot have more than %d tags.", s.Name(), a.Core.AccountID, maxTags)
		}
		return nil
	})
}

func (a *API) removeTags(s *datastreams.Stream, keys []string) error {
	return s.UpdateTags(func(tags map[string]string) error {
		for _, k := range keys {
			delete(tags, k)
		}
		return nil
	})
}

func sortedTags(m map[string]string) []tag {
	out := make([]tag, 0, len(m))
	for k, v := range m {
		out = append(out, tag{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (a *API) addTagsToStream(_ context.Context, in *addTagsIn) (*empty, error) {
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	return &empty{}, a.addTags(s, in.Tags)
}

func (a *API) removeTagsFromStream(_ context.Context, in *removeTagsIn) (*empty, error) {
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	return &empty{}, a.removeTags(s, in.TagKeys)
}

func (a *API) listTagsForStream(_ context.Context, in *listTagsIn) (*listTagsOut, error) {
	var v validator
	v.intRange(in.Limit, "limit", 1, 50)
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	limit := 50
	if in.Limit != nil {
		limit = *in.Limit
	}
	out := &listTagsOut{Tags: []tag{}}
	for _, t := range sortedTags(s.Info().Tags) {
		if in.ExclusiveStartTagKey != nil && t.Key <= *in.ExclusiveStartTagKey {
			continue
		}
		if len(out.Tags) == limit {
			out.HasMoreTags = true
			break
		}
		out.Tags = append(out.Tags, t)
	}
	return out, nil
}

func (a *API) streamByARN(arn *string) (*datastreams.Stream, error) {
	if arn == nil {
		var v validator
		v.required(false, "resourceARN")
		return nil, v.err()
	}
	if strings.Contains(*arn, "/consumer/") {
		return nil, errf(datastreams.KindInvalidArgument, "Tagging consumers is not supported; tag the stream instead.")
	}
	return a.resolve(streamRef{StreamARN: arn})
}

func (a *API) tagResource(_ context.Context, in *tagResourceIn) (*empty, error) {
	s, err := a.streamByARN(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return &empty{}, a.addTags(s, in.Tags)
}

func (a *API) untagResource(_ context.Context, in *untagResourceIn) (*empty, error) {
	s, err := a.streamByARN(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return &empty{}, a.removeTags(s, in.TagKeys)
}

func (a *API) listTagsForResource(_ context.Context, in *listTagsForResourceIn) (*listTagsForResourceOut, error) {
	s, err := a.streamByARN(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return &listTagsForResourceOut{Tags: sortedTags(s.Info().Tags)}, nil
}

var shardMetrics = []string{"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
	"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds"}

func (a *API) monitoring(in *monitoringIn, enable bool) (*monitoringOut, error) {
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, m := range in.ShardLevelMetrics {
		if m == "ALL" {
			for _, x := range shardMetrics {
				want[x] = true
			}
			continue
		}
		known := false
		for _, x := range shardMetrics {
			known = known || x == m
		}
		if !known {
			return nil, errf(datastreams.KindValidation, "1 validation error detected: Value '%s' at 'shardLevelMetrics' failed to satisfy constraint: Member must satisfy enum value set: [%s, ALL]", m, strings.Join(shardMetrics, ", "))
		}
		want[m] = true
	}
	out := &monitoringOut{StreamName: s.Name(), StreamARN: a.Core.StreamARN(s.Name())}
	err = s.UpdateMetrics(func(metrics []string) []string {
		out.CurrentShardLevelMetrics = append([]string{}, metrics...)
		cur := map[string]bool{}
		for _, x := range metrics {
			cur[x] = true
		}
		for x := range want {
			cur[x] = enable
		}
		metrics = metrics[:0]
		for _, x := range shardMetrics {
			if cur[x] {
				metrics = append(metrics, x)
			}
		}
		out.DesiredShardLevelMetrics = append([]string{}, metrics...)
		return metrics
	})
	return out, err
}

func (a *API) enableMonitoring(_ context.Context, in *monitoringIn) (*monitoringOut, error) {
	return a.monitoring(in, true)
}

func (a *API) disableMonitoring(_ context.Context, in *monitoringIn) (*monitoringOut, error) {
	return a.monitoring(in, false)
}

func (a *API) describeLimits(_ context.Context, _ *describeLimitsIn) (*describeLimitsOut, error) {
	onDemand := 0
	for _, s := range a.Core.Streams() {
		if s.Info().Mode == datastreams.ModeOnDemand {
			onDemand++
		}
	}
	return &describeLimitsOut{ShardLimit: a.Core.ShardLimit, OpenShardCount: a.Core.OpenShardCount(),
		OnDemandStreamCount: onDemand, OnDemandStreamCountLimit: 50}, nil
}

// Encryption settings are recorded and reported (EncryptionType KMS on
// records); data at rest is not encrypted by Eddy itself.
func (a *API) startEncryption(_ context.Context, in *encryptionIn) (*empty, error) {
	var v validator
	v.required(in.EncryptionType != nil, "encryptionType")
	v.required(in.KeyId != nil, "keyId")
	if in.EncryptionType != nil && *in.EncryptionType != "KMS" {
		v.add(*in.EncryptionType, "encryptionType", "Member must satisfy enum value set: [KMS, NONE]")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.SetEncryption("KMS", *in.KeyId)
}

func (a *API) stopEncryption(_ context.Context, in *encryptionIn) (*empty, error) {
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	return &empty{}, s.SetEncryption("", "")
}

func (a *API) updateStreamMode(_ context.Context, in *updateStreamModeIn) (*empty, error) {
	var v validator
	v.required(in.StreamARN != nil, "streamARN")
	v.required(in.StreamModeDetails != nil, "streamModeDetails")
	if in.StreamModeDetails != nil && in.StreamModeDetails.StreamMode != datastreams.ModeProvisioned && in.StreamModeDetails.StreamMode != datastreams.ModeOnDemand {
		v.add(in.StreamModeDetails.StreamMode, "streamModeDetails.streamMode", "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.resolve(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	if err := a.eventStreamShape(s, "UpdateStreamMode"); err != nil {
		return nil, err
	}
	return &empty{}, s.SetMode(in.StreamModeDetails.StreamMode)
}
