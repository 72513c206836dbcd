package kvsapi

import (
	"encoding/base64"
	"regexp"
	"strings"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments"
)

var (
	mediaTypePattern = regexp.MustCompile(`^[\w\-\.\+]+/[\w\-\.\+]+(,[\w\-\.\+]+/[\w\-\.\+]+)*$`)
)

type createStreamIn struct {
	StreamName           *string           `json:"StreamName"`
	DeviceName           *string           `json:"DeviceName"`
	MediaType            *string           `json:"MediaType"`
	KmsKeyID             *string           `json:"KmsKeyId"`
	DataRetentionInHours *int              `json:"DataRetentionInHours"`
	Tags                 map[string]string `json:"Tags"`
}

func (a *API) createStream(c *Call, in *createStreamIn) (any, error) {
	if in.StreamName == nil {
		return nil, Errorf(CodeInvalidArgument, "StreamName is required.")
	}
	if err := CheckName("StreamName", *in.StreamName); err != nil {
		return nil, err
	}
	if err := c.Allow(*in.StreamName); err != nil {
		return nil, err
	}
	var o fragments.CreateOptions
	if in.DeviceName != nil {
		if len(*in.DeviceName) < 1 || len(*in.DeviceName) > 128 {
			return nil, Errorf(CodeInvalidArgument, "DeviceName must be 1 to 128 characters long.")
		}
		o.DeviceName = *in.DeviceName
	}
	if in.MediaType != nil {
		if len(*in.MediaType) > 128 || !mediaTypePattern.MatchString(*in.MediaType) {
			return nil, Errorf(CodeInvalidArgument, "MediaType %q is invalid: use type/subtype pairs separated by commas, e.g. video/h264,audio/aac.", *in.MediaType)
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
	s, err := a.Videos.CreateStream(*in.StreamName, o)
	if err != nil {
		return nil, err
	}
	return map[string]string{"StreamARN": s.ARN}, nil
}

type streamInfo struct {
	DeviceName           string    `json:"DeviceName,omitempty"`
	StreamName           string    `json:"StreamName"`
	StreamARN            string    `json:"StreamARN"`
	MediaType            string    `json:"MediaType,omitempty"`
	KmsKeyID             string    `json:"KmsKeyId,omitempty"`
	Version              string    `json:"Version"`
	Status               string    `json:"Status"`
	CreationTime         Timestamp `json:"CreationTime"`
	DataRetentionInHours int       `json:"DataRetentionInHours"`
}

func toInfo(s fragments.VideoStream) streamInfo {
	return streamInfo{DeviceName: s.DeviceName, StreamName: s.Name, StreamARN: s.ARN, MediaType: s.MediaType,
		KmsKeyID: s.KmsKeyID, Version: s.Version, Status: s.Status, CreationTime: Timestamp{Time: s.Created},
		DataRetentionInHours: s.DataRetentionInHours}
}

func (a *API) describeStream(c *Call, in *StreamRef) (any, error) {
	s, err := c.Describe(*in)
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

// listStreams lists the streams; an identity needs ListStreams on some
// stream pattern, and sees the streams its patterns match (Eddy's
// filter: IAM would show every name to a ListStreams on "*").
func (a *API) listStreams(c *Call, in *listStreamsIn) (any, error) {
	if err := c.Allow(""); err != nil {
		return nil, err
	}
	limit := 10000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10000 {
			return nil, Errorf(CodeInvalidArgument, "MaxResults must be between 1 and 10000.")
		}
		limit = *in.MaxResults
	}
	prefix := ""
	if cond := in.StreamNameCondition; cond != nil {
		if cond.ComparisonOperator != nil && *cond.ComparisonOperator != "BEGINS_WITH" {
			return nil, Errorf(CodeInvalidArgument, "StreamNameCondition.ComparisonOperator must be BEGINS_WITH.")
		}
		if cond.ComparisonValue != nil {
			prefix = *cond.ComparisonValue
		}
	}
	after := ""
	if in.NextToken != nil {
		b, err := base64.StdEncoding.DecodeString(*in.NextToken)
		if err != nil || !datastreams.ValidName(string(b)) {
			return nil, Errorf(CodeInvalidArgument, "NextToken is invalid.")
		}
		after = string(b)
	}
	out := struct {
		StreamInfoList []streamInfo `json:"StreamInfoList"`
		NextToken      *string      `json:"NextToken,omitempty"`
	}{StreamInfoList: []streamInfo{}}
	for _, s := range a.Videos.List() {
		if s.Name <= after || !strings.HasPrefix(s.Name, prefix) || !c.Sees(s.Name) {
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

func (a *API) deleteStream(c *Call, in *deleteStreamIn) (any, error) {
	name, err := c.ResourceName("StreamARN", in.StreamARN)
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.Videos.DeleteStream(name, in.CurrentVersion)
}

type updateStreamIn struct {
	StreamRef
	CurrentVersion *string `json:"CurrentVersion"`
	DeviceName     *string `json:"DeviceName"`
	MediaType      *string `json:"MediaType"`
}

func (a *API) updateStream(c *Call, in *updateStreamIn) (any, error) {
	name, err := c.Name(in.StreamRef)
	if err != nil {
		return nil, err
	}
	if in.CurrentVersion == nil {
		return nil, Errorf(CodeInvalidArgument, "CurrentVersion is required.")
	}
	if in.MediaType != nil && (len(*in.MediaType) > 128 || !mediaTypePattern.MatchString(*in.MediaType)) {
		return nil, Errorf(CodeInvalidArgument, "MediaType %q is invalid.", *in.MediaType)
	}
	return struct{}{}, a.Videos.Update(name, in.CurrentVersion, in.DeviceName, in.MediaType)
}

type updateDataRetentionIn struct {
	StreamRef
	CurrentVersion             *string `json:"CurrentVersion"`
	Operation                  *string `json:"Operation"`
	DataRetentionChangeInHours *int    `json:"DataRetentionChangeInHours"`
}

func (a *API) updateDataRetention(c *Call, in *updateDataRetentionIn) (any, error) {
	name, err := c.Name(in.StreamRef)
	if err != nil {
		return nil, err
	}
	if in.CurrentVersion == nil {
		return nil, Errorf(CodeInvalidArgument, "CurrentVersion is required.")
	}
	if in.Operation == nil || (*in.Operation != "INCREASE_DATA_RETENTION" && *in.Operation != "DECREASE_DATA_RETENTION") {
		return nil, Errorf(CodeInvalidArgument, "Operation must be INCREASE_DATA_RETENTION or DECREASE_DATA_RETENTION.")
	}
	if in.DataRetentionChangeInHours == nil || *in.DataRetentionChangeInHours < 1 {
		return nil, Errorf(CodeInvalidArgument, "DataRetentionChangeInHours must be at least 1.")
	}
	return struct{}{}, a.Videos.UpdateRetention(name, in.CurrentVersion, *in.Operation == "INCREASE_DATA_RETENTION", *in.DataRetentionChangeInHours)
}

type getDataEndpointIn struct {
	StreamRef
	APIName *string `json:"APIName"`
}

var apiNames = map[string]bool{
	"PUT_MEDIA": true, "GET_MEDIA": true, "LIST_FRAGMENTS": true, "GET_MEDIA_FOR_FRAGMENT_LIST": true,
	"GET_HLS_STREAMING_SESSION_URL": true, "GET_DASH_STREAMING_SESSION_URL": true, "GET_CLIP": true, "GET_IMAGES": true,
}

func (a *API) getDataEndpoint(c *Call, in *getDataEndpointIn) (any, error) {
	name, err := c.Name(in.StreamRef)
	if err != nil {
		return nil, err
	}
	if in.APIName == nil || !apiNames[*in.APIName] {
		return nil, Errorf(CodeInvalidArgument, "APIName must be one of PUT_MEDIA, GET_MEDIA, LIST_FRAGMENTS, GET_MEDIA_FOR_FRAGMENT_LIST, GET_HLS_STREAMING_SESSION_URL, GET_DASH_STREAMING_SESSION_URL, GET_CLIP, GET_IMAGES.")
	}
	if _, err := a.Videos.Describe(name); err != nil {
		return nil, err
	}
	return map[string]string{"DataEndpoint": a.Endpoint(c.R)}, nil
}
