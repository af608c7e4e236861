/*  fuzz_smtp_data.c — libFuzzer target for the SMTP DATA byte machine (smtp_data_feed in
    gateway/smtp/smtp_parse.h). The input is fed in pieces whose sizes come from its first octet
    (a socket gives bytes in any pieces), and checked against a plain reference:
    - DATA ends only right after CRLF "." CRLF at a line start (the 354's CRLF counts), never
      at a bare LF or CR, whatever the line lengths (issue 11 smuggling);
    - a piece is consumed whole unless the end is in it; out never gets more than in gave;
    - with nothing flagged, the message is the input with dot-stuffing undone.
    Built by the fuzz framework (tests/fuzz/meson.build, dependency gateway_dep). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

/* Where a strict reader ends DATA: one past the LF of the first CRLF "." CRLF that starts at
   a line start; 0 when the input has none */
static size_t
s_reference_end (const uint8_t *in, size_t len)
{
    size_t line_start = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (in[i] == '\r' && in[i + 1] == '\n') {
            if (i == line_start + 1 && in[line_start] == '.')
                return i + 2;
            line_start = i + 2;
            i++;
        }
    }
    return 0;
}

/* The message a strict reader keeps: lines up to the end, a leading dot removed */
static size_t
s_reference_body (const uint8_t *in, size_t end, uint8_t *out)
{
    size_t o = 0, line_start = 0;
    for (size_t i = 0; i < end; i++) {
        if (i == line_start && in[i] == '.')
            continue;
        out[o++] = in[i];
        if (i > 0 && in[i - 1] == '\r' && in[i] == '\n')
            line_start = i + 1;
    }
    return o;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 64 + 1;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    uint8_t *out = malloc (len + 1), *ref = malloc (len + 1);
    assert (out && ref);

    smtp_data_t d;
    smtp_data_init (&d, 1 << 20);
    size_t consumed = 0, out_len = 0;
    while (consumed < len && !smtp_data_done (&d)) {
        size_t piece = len - consumed < step ? len - consumed : step;
        /* a fresh copy of exactly piece octets, so ASan sees any read past it */
        uint8_t *chunk = malloc (piece);
        assert (chunk);
        memcpy (chunk, in + consumed, piece);
        size_t n = 0;
        size_t used = smtp_data_feed (&d, (const char *)chunk, piece, (char *)out + out_len, &n);
        free (chunk);
        assert (used <= piece && n <= used);
        assert (used == piece || smtp_data_done (&d));
        consumed += used;
        out_len += n;
    }
    size_t end = s_reference_end (in, len);
    if (smtp_data_done (&d))
        assert (end != 0 && consumed == end); /* ended exactly at the first real CRLF.CRLF */
    else
        assert (end == 0 && consumed == len);
    if (smtp_data_done (&d) && d.flags == 0) {
        size_t ref_len = s_reference_body (in, end, ref);
        /* the final "." CRLF is not part of the message */
        assert (ref_len >= 2 && out_len == ref_len - 2);
        assert (memcmp (out, ref, out_len) == 0);
    }
    free (out);
    free (ref);
    return 0;
}
