package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/kdsapi"
	"github.com/eddy-video/eddy/fragments"
)

// kvsControl serves the Kinesis Video control plane (restJson1, one POST
// path per operation; KVS-API.md §2) over fragments.Manager.
type kvsControl struct {
	m *fragments.Manager
	// endpoint returns Eddy's own base URL for GetDataEndpoint.
	endpoint func(r *http.Request) string
}

func (k *kvsControl) mount(r chi.Router) {
	r.Post("/createStream", handle(k.createStream))
	r.Post("/describeStream", handle(k.describeStream))
	r.Post("/listStreams", handle(k.listStreams))
	r.Post("/deleteStream", handle(k.deleteStream))
	r.Post("/updateStream", handle(k.updateStream))
	r.Post("/updateDataRetention", handle(k.updateDataRetention))
	r.Post("/getDataEndpoint", func(w http.ResponseWriter, r *http.Request) {
		handle(func(in *getDataEndpointIn) (any, error) { return k.getDataEndpoint(r, in) })(w, r)
	})
	r.Post("/tagStream", handle(k.tagStream))
	r.Post("/untagStream", handle(k.untagStream))
	r.Post("/listTagsForStream", handle(k.listTagsForStream))
	r.Post("/TagResource", handle(k.tagResource))
	r.Post("/UntagResource", handle(k.untagResource))
	r.Post("/ListTagsForResource", handle(k.listTagsForResource))
}

// handle decodes a JSON body into In, runs fn and writes its answer or
// its error in the Kinesis Video shape.
func handle[In any](fn func(*In) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
		if err != nil || len(body) > 1<<20 {
			fragments.WriteError(w, &fragments.Error{Code: fragments.CodeInvalidArgument, Message: "The request body could not be read or is larger than 1 MiB."})
			return
		}
		in := new(In)
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				fragments.WriteError(w, &fragments.Error{Code: fragments.CodeInvalidArgument, Message: "The request body is not valid JSON: " + err.Error()})
				return
			}
		}
		out, err := fn(in)
		if err != nil {
			fragments.WriteError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}

func invalid(format string, args ...any) error {
	return &fragments.Error{Code: fragments.CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

type streamRef struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

// name resolves StreamName or StreamARN.
func (k *kvsControl) name(ref streamRef) (string, error) {
	switch {
	case ref.StreamARN != nil:
		n, ok := k.m.NameFromARN(*ref.StreamARN)
		if !ok {
			return "", invalid("StreamARN %s is not a valid Kinesis Video stream ARN.", *ref.StreamARN)
		}
		if ref.StreamName != nil && *ref.StreamName != n {
			return "", invalid("StreamName and StreamARN name different streams.")
		}
		return n, nil
	case ref.StreamName != nil:
		if !datastreams.ValidName(*ref.StreamName) {
			return "", invalid("StreamName %q is invalid: it must match [a-zA-Z0-9_.-]+ and be 1 to 256 characters long.", *ref.StreamName)
		}
		return *ref.StreamName, nil
	}
	return "", invalid("Either StreamName or StreamARN must be provided.")
}

var (
	mediaTypePattern = regexp.MustCompile(`^[\w\-\.\+]+/[\w\-\.\+]+(,[\w\-\.\+]+/[\w\-\.\+]+)*$`)
	tagKeyPattern    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

func checkTags(tags map[string]string) error {
	if len(tags) > 50 {
		return &fragments.Error{Code: fragments.CodeTagsLimit, Message: "A stream can have at most 50 tags."}
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 || !tagKeyPattern.MatchString(k) {
			return invalid("Tag key %q is invalid: 1 to 128 letters, digits, spaces and _.:/=+-@.", k)
		}
		if len(v) > 256 || !tagKeyPattern.MatchString(v) {
			return invalid("The value of tag %q is invalid: at most 256 letters, digits, spaces and _.:/=+-@.", k)
		}
	}
	return nil
}

type createStreamIn struct {
	StreamName           *string           `json:"StreamName"`
	DeviceName           *string           `json:"DeviceName"`
	MediaType            *string           `json:"MediaType"`
	KmsKeyID             *string           `json:"KmsKeyId"`
	DataRetentionInHours *int              `json:"DataRetentionInHours"`
	Tags                 map[string]string `json:"Tags"`
}

func (k *kvsControl) createStream(in *createStreamIn) (any, error) {
	if in.StreamName == nil {
		return nil, invalid("StreamName is required.")
	}
	var o fragments.CreateOptions
	if in.DeviceName != nil {
		if len(*in.DeviceName) < 1 || len(*in.DeviceName) > 128 {
			return nil, invalid("DeviceName must be 1 to 128 characters long.")
		}
		o.DeviceName = *in.DeviceName
	}
	if in.MediaType != nil {
		if len(*in.MediaType) > 128 || !mediaTypePattern.MatchString(*in.MediaType) {
			return nil, invalid("MediaType %q is invalid: use type/subtype pairs separated by commas, e.g. video/h264,audio/aac.", *in.MediaType)
		}
		o.MediaType = *in.MediaType
	}
	if in.KmsKeyID != nil {
		o.KmsKeyID = *in.KmsKeyID
	}
	if in.DataRetentionInHours != nil {
		o.RetentionHours = *in.DataRetentionInHours
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	o.Tags = in.Tags
	s, err := k.m.CreateStream(*in.StreamName, o)
	if err != nil {
		return nil, err
	}
	return map[string]string{"StreamARN": s.ARN}, nil
}

type streamInfo struct {
	DeviceName           string           `json:"DeviceName,omitempty"`
	StreamName           string           `json:"StreamName"`
	StreamARN            string           `json:"StreamARN"`
	MediaType            string           `json:"MediaType,omitempty"`
	KmsKeyID             string           `json:"KmsKeyId,omitempty"`
	Version              string           `json:"Version"`
	Status               string           `json:"Status"`
	CreationTime         kdsapi.Timestamp `json:"CreationTime"`
	DataRetentionInHours int              `json:"DataRetentionInHours"`
}

func toInfo(s fragments.VideoStream) streamInfo {
	return streamInfo{DeviceName: s.DeviceName, StreamName: s.Name, StreamARN: s.ARN, MediaType: s.MediaType,
		KmsKeyID: s.KmsKeyID, Version: s.Version, Status: s.Status, CreationTime: kdsapi.Timestamp{Time: s.Created},
		DataRetentionInHours: s.DataRetentionInHours}
}

func (k *kvsControl) describeStream(in *streamRef) (any, error) {
	name, err := k.name(*in)
	if err != nil {
		return nil, err
	}
	s, err := k.m.Describe(name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"StreamInfo": toInfo(s)}, nil
}

type listStreamsIn struct {
	MaxResults          *int    `json:"MaxResults"`
	NextToken           *string `json:"NextToken"`
	StreamNameCondition *struct {
		ComparisonOperator *string `json:"ComparisonOperator"`
		ComparisonValue    *string `json:"ComparisonValue"`
	} `json:"StreamNameCondition"`
}

func (k *kvsControl) listStreams(in *listStreamsIn) (any, error) {
	limit := 10000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10000 {
			return nil, invalid("MaxResults must be between 1 and 10000.")
		}
		limit = *in.MaxResults
	}
	prefix := ""
	if c := in.StreamNameCondition; c != nil {
		if c.ComparisonOperator != nil && *c.ComparisonOperator != "BEGINS_WITH" {
			return nil, invalid("StreamNameCondition.ComparisonOperator must be BEGINS_WITH.")
		}
		if c.ComparisonValue != nil {
			prefix = *c.ComparisonValue
		}
	}
	after := ""
	if in.NextToken != nil {
		b, err := base64.StdEncoding.DecodeString(*in.NextToken)
		if err != nil || !datastreams.ValidName(string(b)) {
			return nil, invalid("NextToken is invalid.")
		}
		after = string(b)
	}
	out := struct {
		StreamInfoList []streamInfo `json:"StreamInfoList"`
		NextToken      *string      `json:"NextToken,omitempty"`
	}{StreamInfoList: []streamInfo{}}
	for _, s := range k.m.List() {
		if s.Name <= after || !strings.HasPrefix(s.Name, prefix) {
			continue
		}
		if len(out.StreamInfoList) == limit {
			tok := base64.StdEncoding.EncodeToString([]byte(out.StreamInfoList[limit-1].StreamName))
			out.NextToken = &tok
			break
		}
		out.StreamInfoList = append(out.StreamInfoList, toInfo(s))
	}
	return out, nil
}

type deleteStreamIn struct {
	StreamARN      *string `json:"StreamARN"`
	CurrentVersion *string `json:"CurrentVersion"`
}

func (k *kvsControl) deleteStream(in *deleteStreamIn) (any, error) {
	if in.StreamARN == nil {
		return nil, invalid("StreamARN is required.")
	}
	name, err := k.name(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	return struct{}{}, k.m.DeleteStream(name, in.CurrentVersion)
}

type updateStreamIn struct {
	streamRef
	CurrentVersion *string `json:"CurrentVersion"`
	DeviceName     *string `json:"DeviceName"`
	MediaType      *string `json:"MediaType"`
}

func (k *kvsControl) updateStream(in *updateStreamIn) (any, error) {
	name, err := k.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	if in.CurrentVersion == nil {
		return nil, invalid("CurrentVersion is required.")
	}
	if in.MediaType != nil && (len(*in.MediaType) > 128 || !mediaTypePattern.MatchString(*in.MediaType)) {
		return nil, invalid("MediaType %q is invalid.", *in.MediaType)
	}
	return struct{}{}, k.m.Update(name, in.CurrentVersion, in.DeviceName, in.MediaType)
}

type updateDataRetentionIn struct {
	streamRef
	CurrentVersion             *string `json:"CurrentVersion"`
	Operation                  *string `json:"Operation"`
	DataRetentionChangeInHours *int    `json:"DataRetentionChangeInHours"`
}

func (k *kvsControl) updateDataRetention(in *updateDataRetentionIn) (any, error) {
	name, err := k.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	if in.CurrentVersion == nil {
		return nil, invalid("CurrentVersion is required.")
	}
	if in.Operation == nil || (*in.Operation != "INCREASE_DATA_RETENTION" && *in.Operation != "DECREASE_DATA_RETENTION") {
		return nil, invalid("Operation must be INCREASE_DATA_RETENTION or DECREASE_DATA_RETENTION.")
	}
	if in.DataRetentionChangeInHours == nil || *in.DataRetentionChangeInHours < 1 {
		return nil, invalid("DataRetentionChangeInHours must be at least 1.")
	}
	return struct{}{}, k.m.UpdateRetention(name, in.CurrentVersion, *in.Operation == "INCREASE_DATA_RETENTION", *in.DataRetentionChangeInHours)
}

type getDataEndpointIn struct {
	streamRef
	APIName *string `json:"APIName"`
}

var apiNames = map[string]bool{
	"PUT_MEDIA": true, "GET_MEDIA": true, "LIST_FRAGMENTS": true, "GET_MEDIA_FOR_FRAGMENT_LIST": true,
	"GET_HLS_STREAMING_SESSION_URL": true, "GET_DASH_STREAMING_SESSION_URL": true, "GET_CLIP": true, "GET_IMAGES": true,
}

func (k *kvsControl) getDataEndpoint(r *http.Request, in *getDataEndpointIn) (any, error) {
	name, err := k.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	if in.APIName == nil || !apiNames[*in.APIName] {
		return nil, invalid("APIName must be one of PUT_MEDIA, GET_MEDIA, LIST_FRAGMENTS, GET_MEDIA_FOR_FRAGMENT_LIST, GET_HLS_STREAMING_SESSION_URL, GET_DASH_STREAMING_SESSION_URL, GET_CLIP, GET_IMAGES.")
	}
	if _, err := k.m.Describe(name); err != nil {
		return nil, err
	}
	return map[string]string{"DataEndpoint": k.endpoint(r)}, nil
}

type tagStreamIn struct {
	streamRef
	Tags map[string]string `json:"Tags"`
}

func (k *kvsControl) tagStream(in *tagStreamIn) (any, error) {
	name, err := k.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, invalid("Tags must hold 1 to 50 tags.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return struct{}{}, k.m.Tag(name, in.Tags)
}

type untagStreamIn struct {
	streamRef
	TagKeyList []string `json:"TagKeyList"`
}

func (k *kvsControl) untagStream(in *untagStreamIn) (any, error) {
	name, err := k.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeyList) < 1 || len(in.TagKeyList) > 50 {
		return nil, invalid("TagKeyList must hold 1 to 50 keys.")
	}
	return struct{}{}, k.m.Untag(name, in.TagKeyList)
}

type listTagsIn struct {
	streamRef
	NextToken *string `json:"NextToken"`
}

func (k *kvsControl) listTagsForStream(in *listTagsIn) (any, error) {
	name, err := k.name(in.streamRef)
	if err != nil {
		return nil, err
	}
	s, err := k.m.Describe(name)
	if err != nil {
		return nil, err
	}
	tags := s.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return map[string]any{"Tags": tags}, nil
}

type tagPair struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type tagResourceIn struct {
	ResourceARN *string   `json:"ResourceARN"`
	Tags        []tagPair `json:"Tags"`
}

func (k *kvsControl) resource(arn *string) (string, error) {
	if arn == nil {
		return "", invalid("ResourceARN is required.")
	}
	return k.name(streamRef{StreamARN: arn})
}

func (k *kvsControl) tagResource(in *tagResourceIn) (any, error) {
	name, err := k.resource(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[t.Key] = t.Value
	}
	if len(tags) == 0 {
		return nil, invalid("Tags must hold 1 to 50 tags.")
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	return struct{}{}, k.m.Tag(name, tags)
}

type untagResourceIn struct {
	ResourceARN *string  `json:"ResourceARN"`
	TagKeyList  []string `json:"TagKeyList"`
}

func (k *kvsControl) untagResource(in *untagResourceIn) (any, error) {
	name, err := k.resource(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return struct{}{}, k.m.Untag(name, in.TagKeyList)
}

type listTagsForResourceIn struct {
	ResourceARN *string `json:"ResourceARN"`
	NextToken   *string `json:"NextToken"`
}

func (k *kvsControl) listTagsForResource(in *listTagsForResourceIn) (any, error) {
	name, err := k.resource(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	s, err := k.m.Describe(name)
	if err != nil {
		return nil, err
	}
	out := []tagPair{}
	for k, v := range s.Tags {
		out = append(out, tagPair{k, v})
	}
	return map[string]any{"Tags": out}, nil
}
