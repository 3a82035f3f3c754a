// GstMpeg1Enc: zero-delay MPEG-1 video on libavcodec, for JSMpeg players.
#pragma once

#include <gst/video/gstvideoencoder.h>

G_BEGIN_DECLS

#define GST_TYPE_MPEG1_ENC (gst_mpeg1_enc_get_type())
G_DECLARE_FINAL_TYPE(GstMpeg1Enc, gst_mpeg1_enc, GST, MPEG1_ENC, GstVideoEncoder)

G_END_DECLS
