//go:build ffmpegcgo

package images

// The libavcodec path, built only with -tags ffmpegcgo (it needs
// libavcodec-dev, libswscale-dev and libavutil-dev): it decodes one GOP in
// the server process and encodes one frame as JPEG, for the benchmark that
// compared it with the ffmpeg processes Eddy uses (see
// BenchmarkDecodeGOP). The server does not use it.

/*
#cgo pkg-config: libavcodec libswscale libavutil
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/frame.h>

// decode_gop decodes the n H.264 access units (Annex-B) of buf, cut at
// offs[0..n], up to the frame of presentation rank `rank` (as the ffmpeg
// process stops after its last image), and encodes it as JPEG at MJPEG
// quantizer q into a malloc'd *out.
static int decode_gop(const uint8_t *buf, const int *offs, int n, int rank, int q, uint8_t **out, int *outsize) {
	int ret = -1, seen = 0;
	const AVCodec *dc = avcodec_find_decoder(AV_CODEC_ID_H264);
	AVCodecContext *d = avcodec_alloc_context3(dc);
	AVPacket *pkt = av_packet_alloc();
	AVFrame *f = av_frame_alloc(), *target = NULL, *j = NULL;
	AVCodecContext *e = NULL;
	struct SwsContext *sws = NULL;
	d->thread_count = 1;
	if (avcodec_open2(d, dc, NULL) < 0) goto done;
	for (int i = 0; i <= n && !target; i++) {
		if (i < n) {
			pkt->data = (uint8_t *)buf + offs[i];
			pkt->size = offs[i + 1] - offs[i];
			pkt->pts = i;
			if (avcodec_send_packet(d, pkt) < 0) goto done;
		} else {
			avcodec_send_packet(d, NULL);
		}
		while (avcodec_receive_frame(d, f) == 0) {
			if (seen++ == rank) target = av_frame_clone(f);
			av_frame_unref(f);
		}
	}
	if (!target) { ret = -2; goto done; }
	const AVCodec *ec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
	e = avcodec_alloc_context3(ec);
	e->width = target->width;
	e->height = target->height;
	e->pix_fmt = AV_PIX_FMT_YUVJ420P;
	e->time_base = (AVRational){1, 25};
	e->flags |= AV_CODEC_FLAG_QSCALE;
	e->global_quality = FF_QP2LAMBDA * q;
	e->qmin = 1;
	if (avcodec_open2(e, ec, NULL) < 0) { ret = -3; goto done; }
	sws = sws_getContext(target->width, target->height, target->format, target->width, target->height,
		AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, NULL, NULL, NULL);
	j = av_frame_alloc();
	j->format = AV_PIX_FMT_YUVJ420P;
	j->width = target->width;
	j->height = target->height;
	if (!sws || av_frame_get_buffer(j, 0) < 0) { ret = -4; goto done; }
	sws_scale(sws, (const uint8_t *const *)target->data, target->linesize, 0, target->height, j->data, j->linesize);
	j->quality = e->global_quality;
	j->pts = 0;
	av_packet_unref(pkt);
	if (avcodec_send_frame(e, j) < 0 || avcodec_receive_packet(e, pkt) < 0) { ret = -5; goto done; }
	*out = malloc(pkt->size);
	memcpy(*out, pkt->data, pkt->size);
	*outsize = pkt->size;
	ret = 0;
done:
	if (sws) sws_freeContext(sws);
	av_frame_free(&j);
	av_frame_free(&target);
	av_frame_free(&f);
	pkt->data = NULL; pkt->size = 0;
	av_packet_free(&pkt);
	avcodec_free_context(&e);
	avcodec_free_context(&d);
	return ret;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// decodeGOPCgo decodes the access units (Annex-B, decode order) with
// libavcodec in this process and returns the JPEG of the frame of
// presentation rank rank.
func decodeGOPCgo(units [][]byte, rank, q int) ([]byte, error) {
	size := 0
	for _, u := range units {
		size += len(u)
	}
	buf := C.malloc(C.size_t(size + 64)) // + AV_INPUT_BUFFER_PADDING_SIZE
	defer C.free(buf)
	offs := C.malloc(C.size_t(4 * (len(units) + 1)))
	defer C.free(offs)
	b := unsafe.Slice((*byte)(buf), size+64)
	o := unsafe.Slice((*C.int)(offs), len(units)+1)
	pos := 0
	for i, u := range units {
		o[i] = C.int(pos)
		pos += copy(b[pos:], u)
	}
	o[len(units)] = C.int(pos)
	clear(b[pos:])
	var out *C.uint8_t
	var outSize C.int
	if r := C.decode_gop((*C.uint8_t)(buf), (*C.int)(offs), C.int(len(units)), C.int(rank), C.int(q), &out, &outSize); r != 0 {
		return nil, fmt.Errorf("%w: libavcodec: %d", ErrMediaError, int(r))
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), outSize), nil
}
