/*  proto.h — the broker protocol codec (docs/PROTOCOL.md).
    A request is [request-id][VERB][arg]...; a reply is [request-id][status line][data]...;
    a push is ["*"][EVENT][field]... These functions touch no socket and no database,
    so unit tests and fuzzers call them directly. */
#ifndef MAILBUS_PROTO_H
#define MAILBUS_PROTO_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_limits.h"
#include "reply.h"

#define PROTO_VERSION "MAILBUS/1"
#define PROTO_PUSH_ID "*"
/* the id the broker echoes when a request has no usable id of its own */
#define PROTO_NO_ID "-"
/* SEND carries sender, up to MAX_RCPT recipients, and the message */
#define PROTO_MAX_ARGS (MAX_RCPT + 2)
/* The frames of a request worth reading: id, verb, the arguments, and one more to tell a
   request with too many arguments */
#define PROTO_MAX_FRAMES (PROTO_MAX_ARGS + 3)

typedef struct {
    const uint8_t *data;
    size_t size;
} proto_arg_t;

typedef struct {
    char id[MAX_REQUEST_ID + 1];
    char verb[MAX_VERB + 1];
    size_t argc;
    proto_arg_t args[PROTO_MAX_ARGS];
} proto_request_t;

/* Parses msg (the frames after any routing id) into req. Args point into msg's frames,
   so msg must outlive req. Returns 0; or -1 with a static reason in *error and the reply
   to give in *reply (req->id holds the id to echo, PROTO_NO_ID when it had none). */
int proto_request_parse (zmsg_t *msg, proto_request_t *req, reply_id_t *reply, const char **error);

/* The same over count frames already read (the broker receives them without zmsg_t); a
   request with more than PROTO_MAX_FRAMES frames is given as its first PROTO_MAX_FRAMES */
int proto_request_parse_frames (const proto_arg_t *frames, size_t count, proto_request_t *req,
                                reply_id_t *reply, const char **error);

/* Copies an argument into buf as a C string. -1 if it holds a NUL or does not fit. */
int proto_arg_string (const proto_arg_t *arg, char *buf, size_t size);

/* Parses an argument as a decimal unsigned 63-bit number. -1 if it is not one. */
int proto_arg_uint (const proto_arg_t *arg, int64_t *value);

/* True when the argument equals the C string s */
bool proto_arg_is (const proto_arg_t *arg, const char *s);

/* A new request message [id][verb] (the caller appends args with zmsg_addstr/zmsg_addmem) */
zmsg_t *proto_request_new (const char *id, const char *verb);

/* A new reply [id]["CODE ENH text"]; text NULL uses the table's text */
zmsg_t *proto_reply_new (const char *id, reply_id_t reply, const char *text);

/* A new reply with printf-style text */
zmsg_t *proto_reply_newf (const char *id, reply_id_t reply, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Moves every frame of *from_p to the end of to, and destroys *from_p */
void proto_move_frames (zmsg_t *to, zmsg_t **from_p);

/* Reads the status of a reply whose id frame was already removed: the first frame is
   the status line. Returns 0 and fills code (and a copy of the line into line, if given),
   or -1 when the frame is not a status line. */
int proto_reply_status (zmsg_t *reply, int *code, char *line, size_t size);

#endif
