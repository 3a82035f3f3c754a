// GstRecordSink (`recordsink`): the camera's stream recorded to disk in fMP4 segments.
#pragma once

#include "base/serving_sink.h"

G_BEGIN_DECLS

#define GST_TYPE_RECORD_SINK (gst_record_sink_get_type())
G_DECLARE_FINAL_TYPE(GstRecordSink, gst_record_sink, GST, RECORD_SINK, GstServingSink)

GST_ELEMENT_REGISTER_DECLARE(recordsink);

G_END_DECLS
