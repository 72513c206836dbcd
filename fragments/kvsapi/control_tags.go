package kvsapi

import (
	"regexp"
)

// The tagging operations: TagStream, UntagStream, ListTagsForStream (by
// stream name or ARN, tags as a map) and TagResource, UntagResource,
// ListTagsForResource (by ARN, tags as a list of Key/Value pairs).

var tagKeyPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func checkTags(tags map[string]string) error {
	if len(tags) > 50 {
		return Errorf(CodeTagsLimit, "A stream can have at most 50 tags.")
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 || !tagKeyPattern.MatchString(k) {
			return Errorf(CodeInvalidArgument, "Tag key %q is invalid: 1 to 128 letters, digits, spaces and _.:/=+-@.", k)
		}
		if len(v) > 256 || !tagKeyPattern.MatchString(v) {
			return Errorf(CodeInvalidArgument, "The value of tag %q is invalid: at most 256 letters, digits, spaces and _.:/=+-@.", k)
		}
	}
	return nil
}

type tagStreamIn struct {
	StreamRef
	Tags map[string]string `json:"Tags"`
}

func (a *API) tagStream(c *Call, in *tagStreamIn) (any, error) {
	name, err := c.Name(in.StreamRef)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, Errorf(CodeInvalidArgument, "Tags must hold 1 to 50 tags.")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return struct{}{}, a.Videos.Tag(name, in.Tags)
}

type untagStreamIn struct {
	StreamRef
	TagKeyList []string `json:"TagKeyList"`
}

func (a *API) untagStream(c *Call, in *untagStreamIn) (any, error) {
	name, err := c.Name(in.StreamRef)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeyList) < 1 || len(in.TagKeyList) > 50 {
		return nil, Errorf(CodeInvalidArgument, "TagKeyList must hold 1 to 50 keys.")
	}
	return struct{}{}, a.Videos.Untag(name, in.TagKeyList)
}

type listTagsIn struct {
	StreamRef
	NextToken *string `json:"NextToken"`
}

func (a *API) listTagsForStream(c *Call, in *listTagsIn) (any, error) {
	name, err := c.Name(in.StreamRef)
	if err != nil {
		return nil, err
	}
	s, err := a.Videos.Describe(name)
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

func (a *API) tagResource(c *Call, in *tagResourceIn) (any, error) {
	name, err := c.ResourceName("ResourceARN", in.ResourceARN)
	if err != nil {
		return nil, err
	}
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[t.Key] = t.Value
	}
	if len(tags) == 0 {
		return nil, Errorf(CodeInvalidArgument, "Tags must hold 1 to 50 tags.")
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	return struct{}{}, a.Videos.Tag(name, tags)
}

type untagResourceIn struct {
	ResourceARN *string  `json:"ResourceARN"`
	TagKeyList  []string `json:"TagKeyList"`
}

func (a *API) untagResource(c *Call, in *untagResourceIn) (any, error) {
	name, err := c.ResourceName("ResourceARN", in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.Videos.Untag(name, in.TagKeyList)
}

type listTagsForResourceIn struct {
	ResourceARN *string `json:"ResourceARN"`
	NextToken   *string `json:"NextToken"`
}

func (a *API) listTagsForResource(c *Call, in *listTagsForResourceIn) (any, error) {
	name, err := c.ResourceName("ResourceARN", in.ResourceARN)
	if err != nil {
		return nil, err
	}
	s, err := a.Videos.Describe(name)
	if err != nil {
		return nil, err
	}
	out := []tagPair{}
	for k, v := range s.Tags {
		out = append(out, tagPair{k, v})
	}
	return map[string]any{"Tags": out}, nil
}
