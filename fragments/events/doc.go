// Package events places the metadata events of a video stream on the
// video's own timeline.
//
// An event is a JSON record on the stream's event stream ({name}.events):
//
//	{"type":"detection","time":"2026-12-06T10:00:01.250Z","duration":0.8,
//	 "label":"person","score":0.91,"box":[x,y,w,h],"attributes":{...}}
//
// Parse decides what a record is. A JSON object with a "type" member
// (other than "fragment", Eddy's own fragment notices) is an event and is
// checked strictly: a bad member refuses the record, which is then stored
// nothing. Anything else (not JSON, not an object, no "type") is stored
// and delivered as any record is, but not placed on the timeline.
//
// A Timeline indexes the events of one event stream by their producer
// time (the "time" member) in quarter-hour files on disk, answers range reads
// from that index (Query), and tells live readers of each new event
// (Subscribe, Changed). The index is derived data: the log is the truth,
// and the index is rebuilt from it when it is missing or damaged.
package events
