package kvsapi

import (
	"net/http"
)

// notBuilt is a Kinesis Video operation Eddy does not implement yet: its
// path answers UnknownOperationException naming it (and what to use
// instead), which every AWS SDK surfaces as a typed error, rather than a
// plain-text 404.
type notBuilt struct {
	path, name, instead string
}

func (op notBuilt) serve(w http.ResponseWriter, _ *http.Request) {
	msg := "Eddy does not implement the Kinesis Video operation " + op.name + " yet."
	if op.instead != "" {
		msg += " " + op.instead
	}
	WriteError(w, Errorf(CodeUnknownOperation, "%s", msg))
}

const (
	useWebRTC = "Eddy's WebRTC is WHEP playback and WHIP ingest at /webrtc/{stream}/whep and /webrtc/{stream}/whip."
	useHLS    = "Use GetHLSStreamingSessionURL."
)

// unimplemented lists the operations of the Kinesis Video service models
// (kinesisvideo, kinesis-video-media, kinesis-video-archived-media,
// kinesis-video-signaling, kinesis-video-webrtc-storage) that Eddy does not
// serve, by their restJson1 paths.
var unimplemented = []notBuilt{
	{"/getMedia", "GetMedia", "Use GetMediaForFragmentList, HLS, or RTSP/WHEP for live media."},
	{"/getImages", "GetImages", ""},
	{"/getDASHStreamingSessionURL", "GetDASHStreamingSessionURL", useHLS},
	{"/describeImageGenerationConfiguration", "DescribeImageGenerationConfiguration", ""},
	{"/updateImageGenerationConfiguration", "UpdateImageGenerationConfiguration", ""},
	{"/describeNotificationConfiguration", "DescribeNotificationConfiguration", ""},
	{"/updateNotificationConfiguration", "UpdateNotificationConfiguration", ""},
	{"/describeStreamStorageConfiguration", "DescribeStreamStorageConfiguration", ""},
	{"/updateStreamStorageConfiguration", "UpdateStreamStorageConfiguration", ""},
	{"/describeMediaStorageConfiguration", "DescribeMediaStorageConfiguration", useWebRTC},
	{"/updateMediaStorageConfiguration", "UpdateMediaStorageConfiguration", useWebRTC},
	{"/createSignalingChannel", "CreateSignalingChannel", useWebRTC},
	{"/deleteSignalingChannel", "DeleteSignalingChannel", useWebRTC},
	{"/describeSignalingChannel", "DescribeSignalingChannel", useWebRTC},
	{"/getSignalingChannelEndpoint", "GetSignalingChannelEndpoint", useWebRTC},
	{"/listSignalingChannels", "ListSignalingChannels", useWebRTC},
	{"/updateSignalingChannel", "UpdateSignalingChannel", useWebRTC},
	{"/v1/get-ice-server-config", "GetIceServerConfig", useWebRTC},
	{"/v1/send-alexa-offer-to-master", "SendAlexaOfferToMaster", useWebRTC},
	{"/joinStorageSession", "JoinStorageSession", useWebRTC},
	{"/joinStorageSessionAsViewer", "JoinStorageSessionAsViewer", useWebRTC},
	{"/deleteEdgeConfiguration", "DeleteEdgeConfiguration", ""},
	{"/describeEdgeConfiguration", "DescribeEdgeConfiguration", ""},
	{"/startEdgeConfigurationUpdate", "StartEdgeConfigurationUpdate", ""},
	{"/listEdgeAgentConfigurations", "ListEdgeAgentConfigurations", ""},
	{"/describeMappedResourceConfiguration", "DescribeMappedResourceConfiguration", ""},
}

// UnknownOperation answers a POST to a path no operation has, in the same
// typed shape.
func UnknownOperation(w http.ResponseWriter, r *http.Request) {
	WriteError(w, Errorf(CodeUnknownOperation, "No Kinesis operation is served at POST %s.", r.URL.Path))
}
