package kvsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// maxBody bounds a Kinesis Video request body: 1,000 fragment numbers of
// up to 128 characters (GetMediaForFragmentList) fit easily.
const maxBody = 1 << 20

// Decode reads a restJson1 request body into v. It is the one decoder of
// every Kinesis Video operation, so the same bad body gets the same error
// type and message from all of them. An empty body is an empty object;
// fields the operation does not know are ignored, as AWS services do.
func Decode(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeBody(body, v)
}

// readBody reads a request body whole, up to maxBody.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, Errorf(CodeInvalidArgument, "Could not read the request body: %v.", err)
	}
	if len(body) > maxBody {
		return nil, Errorf(CodeInvalidArgument, "The request body is larger than %d bytes.", maxBody)
	}
	return body, nil
}

// decodeBody decodes a JSON body into v (an empty body is an empty object).
func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return decodeError(err)
	}
	return nil
}

// decodeError words a JSON error for the caller: which member has a value
// of the wrong type, or where the body stops being JSON.
func decodeError(err error) *Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// encoding/json names an embedded struct in the path; the wire
		// has no such level.
		field := strings.ReplaceAll(te.Field, "StreamRef.", "")
		if field == "" {
			field = "the request body"
		}
		return Errorf(CodeInvalidArgument, "The value of %s must be %s, not %s.", field, jsonKind(te.Type), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return Errorf(CodeInvalidArgument, "The request body is not valid JSON: %v (at byte %d).", se, se.Offset)
	}
	return Errorf(CodeInvalidArgument, "The request body is not valid JSON: %v.", err)
}

var timestampType = reflect.TypeFor[Timestamp]()

// jsonKind names what a Go type reads from JSON, for error messages.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timestampType:
		return "a timestamp (epoch seconds)"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "a list"
	}
	return "an object"
}
