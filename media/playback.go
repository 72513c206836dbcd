package media

import (
	"fmt"
	"strings"
)

// Playback says how browsers can play a publication: over HLS (the
// archive's CMAF fragments, played by hls.js through Media Source
// Extensions, or natively) and over WebRTC (WHEP, forwarding the RTP of
// the live tracks without transcoding).
type Playback struct {
	HLS    bool `json:"hls"`
	WebRTC bool `json:"webrtc"`
	// WebRTCAudio is set when WebRTC carries the audio too; WebRTC
	// without it plays the video alone.
	WebRTCAudio bool `json:"webrtcAudio"`
	// Reason explains what is missing, for people; empty when both play
	// everything.
	Reason string `json:"reason,omitempty"`
}

// HLSVideo reports whether Eddy's HLS (fMP4 segments) carries a video
// codec: H.264, H.265, VP9 and AV1 (vp09 and av01 sample entries, which
// MSE players such as hls.js play in Chromium and Firefox; Apple's native
// player takes H.264 and H.265 only). VP8 has no HLS carriage browsers
// accept.
func HLSVideo(codec string) bool {
	switch codec {
	case CodecH264, CodecH265, CodecVP9, CodecAV1:
		return true
	}
	return false
}

// HLSAudio reports whether Eddy's HLS carries an audio codec in a way
// browsers play: AAC and Opus. G.711 is stored as 16-bit LPCM, which MSE
// players do not take.
func HLSAudio(codec string) bool {
	return codec == CodecAAC || codec == CodecOpus
}

// TSVideo reports whether Eddy's MPEG-TS segments (HLS with
// ContainerFormat MPEG_TS) carry a video codec: H.264 and H.265 only.
func TSVideo(codec string) bool {
	return codec == CodecH264 || codec == CodecH265
}

// NativeHLSVideo reports whether Apple's native HLS player (Safari) plays
// a video codec from Eddy's HLS: H.264 and H.265 only; the others HLSVideo
// accepts play in MSE players.
func NativeHLSVideo(codec string) bool {
	return codec == CodecH264 || codec == CodecH265
}

// WebRTCTrack reports whether WHEP can forward a track without
// transcoding, and why not, for people: H.264, H.265, VP8, VP9 and AV1
// video; Opus audio, and G.711 at 8000 Hz mono (PCMU/PCMA).
func WebRTCTrack(t Track) (ok bool, why string) {
	switch t.Codec {
	case CodecH264, CodecH265, CodecVP8, CodecVP9, CodecAV1, CodecOpus:
		return true, ""
	case CodecG711U, CodecG711A:
		if t.ClockRate == 8000 && G711Channels(t) == 1 {
			return true, ""
		}
		return false, fmt.Sprintf("%s at %d Hz with %d channels (WebRTC carries G.711 at 8000 Hz mono only)", t.Codec, t.ClockRate, G711Channels(t))
	case CodecAAC:
		return false, "AAC, which WebRTC cannot carry (browsers decode Opus or G.711 in WebRTC)"
	}
	return false, t.Codec + ", which WebRTC cannot carry"
}

// PlaybackOf decides how a publication with these tracks can be played.
// The first video track decides (the fragmenter and the hub key on it);
// without one, the audio does.
//
//   - HLS: the video codec is one HLSVideo accepts; audio-only, an
//     audio track HLSAudio accepts.
//   - WebRTC: the video track is one WebRTCTrack accepts (audio it does
//     not accept is then left out: WebRTCAudio false); audio-only, an
//     audio track WebRTCTrack accepts (Opus, 8 kHz mono G.711).
func PlaybackOf(tracks []Track) Playback {
	var video *Track
	var audio []string
	opus := false
	for i := range tracks {
		t := &tracks[i]
		switch {
		case t.Kind == Video && video == nil:
			video = t
		case t.Kind == Audio:
			audio = append(audio, t.Codec)
			// WHEP sends Opus, and G.711 at 8 kHz mono (PCMU/PCMA).
			ok, _ := WebRTCTrack(*t)
			opus = opus || ok
		}
	}
	var p Playback
	var why []string
	if video != nil {
		p.HLS = HLSVideo(video.Codec)
		p.WebRTC, _ = WebRTCTrack(*video)
		p.WebRTCAudio = p.WebRTC && opus
		if !p.HLS {
			why = append(why, "HLS cannot carry "+video.Codec+" video: use WebRTC (WHEP)")
		}
		if !p.WebRTC {
			why = append(why, "WebRTC cannot carry "+video.Codec+" video")
		}
		if p.WebRTC && !p.WebRTCAudio && len(audio) > 0 {
			msg := "WebRTC plays the video only (" + strings.Join(audio, ", ") + " audio is not Opus or 8 kHz G.711)"
			if p.HLS {
				msg += ": use HLS for sound"
			}
			why = append(why, msg)
		}
	} else {
		for _, c := range audio {
			p.HLS = p.HLS || HLSAudio(c)
		}
		p.WebRTC, p.WebRTCAudio = opus, opus
		switch {
		case len(audio) == 0:
			why = append(why, "no playable track")
		case !p.HLS && !p.WebRTC:
			why = append(why, strings.Join(audio, ", ")+" audio plays over neither HLS nor WebRTC")
		case !p.WebRTC:
			why = append(why, "WebRTC carries Opus and 8 kHz G.711 audio only ("+strings.Join(audio, ", ")+"): use HLS")
		case !p.HLS:
			why = append(why, "HLS cannot carry "+strings.Join(audio, ", ")+" audio: use WebRTC (WHEP)")
		}
	}
	p.Reason = strings.Join(why, "; ")
	return p
}
