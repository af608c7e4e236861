/*  fuzz.h — what every harness shares: the libFuzzer entry point, a check that aborts (a
    fuzzer reports it as a crash, with the input), and the frame reader of the harnesses
    that speak the broker protocol. See docs/FUZZING.md. */
#ifndef MAILBUS_FUZZ_H
#define MAILBUS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto.h"

/* libFuzzer calls it once per input; the replay driver once per corpus file */
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* A property of the code under test that the input broke: abort, so both libFuzzer and the
   replay driver report it (and libFuzzer keeps the input as crash-<sha1>). Written to fd 2,
   not stderr, which a harness may capture. */
#define FUZZ_CHECK(cond)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            dprintf (STDERR_FILENO, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);           \
            abort ();                                                                                        \
        }                                                                                                    \
    } while (0)

/* Broker-protocol inputs are requests of frames: each frame is a 2-octet big-endian length
   and that many octets (fewer when the input ends first); the length FUZZ_FRAMES_END ends a
   request and starts the next. tests/fuzz/make_corpus.py writes them. */
#define FUZZ_FRAMES_END 0xFFFF

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
} fuzz_reader_t;

/* Reads the next request: its first max frames into frames (any beyond are skipped) and
   their number into *count. Returns 1, or 0 when the input is used up. */
int fuzz_frames_next (fuzz_reader_t *reader, proto_arg_t *frames, size_t max, size_t *count);

#endif
