/*  frames.c — the frame reader of fuzz.h. */
#include "fuzz.h"

/* One frame at reader->pos into *frame; returns 0, or 1 at a request's end marker */
static int
s_frame_read (fuzz_reader_t *reader, proto_arg_t *frame)
{
    size_t left = reader->size - reader->pos;
    const uint8_t *p = reader->data + reader->pos;
    size_t len = left >= 2 ? (size_t)p[0] << 8 | p[1] : p[0];
    reader->pos += left >= 2 ? 2 : 1;
    if (len == FUZZ_FRAMES_END)
        return 1;
    left = reader->size - reader->pos;
    frame->data = reader->data + reader->pos;
    frame->size = len < left ? len : left;
    reader->pos += frame->size;
    return 0;
}

int
fuzz_frames_next (fuzz_reader_t *reader, proto_arg_t *frames, size_t max, size_t *count)
{
    *count = 0;
    if (reader->pos >= reader->size)
        return 0;
    while (reader->pos < reader->size) {
        proto_arg_t frame;
        if (s_frame_read (reader, &frame))
            break;
        if (*count < max)
            frames[(*count)++] = frame;
    }
    return 1;
}
