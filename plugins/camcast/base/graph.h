// Walking a pipeline's graph from a pad, the one way camcast's elements do it: what is on the
// other side of a pad, an element's pads, and the nearest element upstream that is wanted.
// Every pad and element returned is a reference of the caller's.
#pragma once

#include <gst/gst.h>

#include <functional>
#include <vector>

namespace camcast::graph {

// The pads of `element` that go `direction` (GST_PAD_SINK: its inputs).
std::vector<GstPad *> pads(GstElement *element, GstPadDirection direction);
void unref_all(std::vector<GstPad *> *pads);
// The element on the other side of `pad`, null when it is not linked; its pad in `*peer` if
// asked (null then too).
GstElement *across(GstPad *pad, GstPad **peer = nullptr);
// Whether `element` was made by the factory named `factory` ("tee").
bool made_by(GstElement *element, const char *factory);
// The nearest element upstream of `pad` (through every input of the elements on the way, at
// most `depth` elements deep) that `wanted` takes; null if none.
GstElement *find_upstream(GstPad *pad, const std::function<bool(GstElement *)> &wanted,
                          int depth = 16);

}  // namespace camcast::graph
