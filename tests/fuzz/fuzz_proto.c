/*  fuzz_proto.c — the broker's request codec (common/proto.h): the input is requests of
    length-prefixed frames (fuzz.h), each parsed by proto_request_parse_frames as the broker
    parses what its ROUTER socket received, and its arguments read as strings and numbers. */
#include <string.h>

#include "fuzz.h"

static void
s_check_args (const proto_request_t *req)
{
    for (size_t i = 0; i < req->argc; i++) {
        char buf[MAX_ADDRESS + 1];
        if (proto_arg_string (&req->args[i], buf, sizeof buf) == 0)
            FUZZ_CHECK (strlen (buf) == req->args[i].size);
        int64_t value = -1;
        if (proto_arg_uint (&req->args[i], &value) == 0)
            FUZZ_CHECK (value >= 0);
        (void)proto_arg_is (&req->args[i], "MAILBUS/1");
    }
}

static void
s_check_request (const proto_arg_t *frames, size_t count)
{
    proto_request_t req;
    reply_id_t reply = REPLY_OK;
    const char *why = NULL;
    int rc = proto_request_parse_frames (frames, count, &req, &reply, &why);
    /* an id to echo is there even when the request is refused (PROTO_NO_ID at worst) */
    FUZZ_CHECK (strlen (req.id) >= 1 && strlen (req.id) <= MAX_REQUEST_ID);
    if (rc != 0) {
        FUZZ_CHECK (rc == -1 && why && reply != REPLY_OK);
        /* the refusal is a reply the broker can build */
        zmsg_t *msg = proto_reply_new (req.id, reply, why);
        FUZZ_CHECK (msg && zmsg_size (msg) == 2);
        zmsg_destroy (&msg);
        return;
    }
    FUZZ_CHECK (strlen (req.verb) >= 1 && strlen (req.verb) <= MAX_VERB);
    FUZZ_CHECK (req.argc <= PROTO_MAX_ARGS && req.argc + 2 == count);
    s_check_args (&req);
}

/* The same frames as a zmsg_t, through proto_request_parse, give the same answer */
static void
s_check_zmsg (const proto_arg_t *frames, size_t count)
{
    zmsg_t *msg = zmsg_new ();
    for (size_t i = 0; i < count; i++)
        zmsg_addmem (msg, frames[i].data, frames[i].size);
    proto_request_t a, b;
    reply_id_t ra, rb;
    const char *wa = NULL, *wb = NULL;
    int rc_a = proto_request_parse (msg, &a, &ra, &wa);
    int rc_b = proto_request_parse_frames (frames, count, &b, &rb, &wb);
    FUZZ_CHECK (rc_a == rc_b && strcmp (a.id, b.id) == 0);
    FUZZ_CHECK (rc_a != 0 || (strcmp (a.verb, b.verb) == 0 && a.argc == b.argc));
    zmsg_destroy (&msg);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_reader_t reader = {data, size, 0};
    proto_arg_t frames[PROTO_MAX_FRAMES];
    size_t count;
    while (fuzz_frames_next (&reader, frames, PROTO_MAX_FRAMES, &count)) {
        s_check_request (frames, count);
        s_check_zmsg (frames, count);
    }
    return 0;
}
