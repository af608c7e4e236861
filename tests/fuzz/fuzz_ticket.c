/*  fuzz_ticket.c — resumption tickets (broker/ticket.h): what RESUME hands the broker. The
    input is tried as a ticket under a fixed key: only a ticket sealed under that key opens, and
    an opened ticket is what was sealed. Its first 32 octets, as the fields of a ticket, are
    sealed and opened again: the same fields come back, and any one character changed, or the
    last one cut, is refused. */
#include <string.h>

#include "fuzz.h"
#include "ticket.h"

static const uint8_t s_key[TICKET_KEY_BYTES] = {0x42, 0x13, 0x37};

static void
s_check_round_trip (const uint8_t *data)
{
    ticket_t ticket, opened;
    memcpy (&ticket.mailbox_id, data, 8);
    memcpy (&ticket.expires, data + 8, 8);
    memcpy (ticket.fingerprint, data + 16, TICKET_FINGERPRINT_BYTES);
    char text[TICKET_TEXT_BYTES];
    ticket_seal (s_key, &ticket, text);
    const char *why = NULL;
    FUZZ_CHECK (strlen (text) == TICKET_TEXT_BYTES - 1);
    FUZZ_CHECK (ticket_open (s_key, text, strlen (text), &opened, &why) == 0);
    FUZZ_CHECK (opened.mailbox_id == ticket.mailbox_id && opened.expires == ticket.expires);
    FUZZ_CHECK (memcmp (opened.fingerprint, ticket.fingerprint, TICKET_FINGERPRINT_BYTES) == 0);
    size_t at = data[0] % (TICKET_TEXT_BYTES - 1);
    text[at] = text[at] == 'A' ? 'B' : 'A';
    FUZZ_CHECK (ticket_open (s_key, text, strlen (text), &opened, &why) == -1);
    FUZZ_CHECK (ticket_open (s_key, text, strlen (text) - 1, &opened, &why) == -1);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    ticket_t ticket;
    const char *why = NULL;
    int rc = ticket_open (s_key, (const char *)data, size, &ticket, &why);
    /* a forgery that opens would be a broken MAC: only a sealed ticket (never in the corpus) does */
    FUZZ_CHECK (rc == -1 && why &&
                (strcmp (why, "malformed") == 0 || strcmp (why, "forged or altered") == 0));
    if (size >= 32)
        s_check_round_trip (data);
    return 0;
}
