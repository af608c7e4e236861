/*  gw_limits.h — the limits of mailbus-gateway's SMTP side, in one place, each with the
    RFC section it comes from (the broker's limits are in common/mb_limits.h). */
#ifndef MAILBUS_GW_LIMITS_H
#define MAILBUS_GW_LIMITS_H

#include "mb_limits.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets including CRLF */
#define SMTP_MAX_LINE 512
/* RFC 5321 4.5.3.1.6: a text line (DATA) is at most 1000 octets including CRLF */
#define SMTP_MAX_TEXT_LINE 1000
/* RFC 1035 2.3.4: a label of a domain name is at most 63 octets (the name: MAX_DOMAIN, 255) */
#define SMTP_MAX_LABEL 63
/* RFC 4954 4: an AUTH line (command or response) may be up to 12288 octets */
#define SMTP_MAX_AUTH_LINE 12288
/* RFC 5321 4.5.3.1.8: 100 recipients, more get 452 4.5.3 (MAX_RCPT in mb_limits.h) */
#define SMTP_MAX_RCPT MAX_RCPT
/* RFC 5321 4.5.3.2.7: the server waits 5 minutes for the next command */
#define SMTP_COMMAND_TIMEOUT_MS (5 * 60 * 1000)
/* RFC 5321 4.5.3.2.6 asks the client to wait 10 min for the reply to DATA; we wait at most
   3 min between two lines of DATA (4.5.3.2.5) */
#define SMTP_DATA_TIMEOUT_MS (3 * 60 * 1000)
/* RFC 5321 4.5.3.2 sets no bound on a whole DATA phase; Postfix-like choice: 10 minutes for
   the message, then 451 4.4.2 and the connection closes (the per-read bound stays above) */
#define SMTP_DATA_DEADLINE_MS (10 * 60 * 1000)
/* Postfix smtpd_soft_error_limit (10) / smtpd_hard_error_limit (20) / smtpd_error_sleep_time
   (1 s): refusals a client earned (bad commands, unknown recipients, failed AUTH, a refused
   message); past the soft limit each one waits, at the hard limit 421 4.7.0 and close */
#define SMTP_SOFT_ERROR_LIMIT 10
#define SMTP_HARD_ERROR_LIMIT 20
#define SMTP_ERROR_SLEEP_MS 1000
/* Our choice (RFC 4954 4 leaves it to the server): this many 535s end the session with 421 */
#define SMTP_MAX_AUTH_FAILURES 3
/* Our choice: each failed AUTH in a session waits this much longer before its 535 */
#define SMTP_AUTH_DELAY_MS 1000
#define SMTP_AUTH_DELAY_MAX_MS 3000
/* Our choice: concurrent sessions of all listeners together (--max-sessions) */
#define GATEWAY_MAX_SESSIONS 100
/* Our choice: identified gateway clients kept for unauthenticated SMTP sessions */
#define GATEWAY_POOL_MAX 32
/* How long to wait for the broker's answer to one request */
#define GATEWAY_BROKER_TIMEOUT_MS 10000

/* ------------------------------------------------------------------ throttles (throttle.h) */

/* RFC 5321 4.5.3.2.7: an SMTP server waits at least 5 minutes for the next command; the
   default of --smtp-timeout, in seconds */
#define SMTP_IDLE_TIMEOUT_S 300
/* RFC 1939 3: a POP3 server's inactivity autologout timer is at least 10 minutes; the default
   of --pop3-timeout, in seconds. Shorter values break that rule: they are for tests. */
#define POP3_IDLE_TIMEOUT_S 600
/* Our choice (Postfix smtpd_client_connection_count_limit is 50, Dovecot
   mail_max_userip_connections 10 per user and address): open connections from one client
   address, SMTP and POP3 together; under a third of GATEWAY_MAX_SESSIONS, so one address
   alone cannot take every session. --max-connections-per-address */
#define THROTTLE_MAX_CONNECTIONS 30
/* Our choice (fail2ban's maxretry is 5 in a findtime of 10 min): failed logins and unknown
   recipients from one address that block it; one failure is forgiven every
   THROTTLE_DECAY_MS. --max-auth-failures */
#define THROTTLE_MAX_FAILURES 10
/* Unknown local recipients (550 5.1.1) from one address that count as one failure: probing
   a domain's mailboxes is throttled like guessing passwords, an MTA's typo is not (Postfix
   counts both toward smtpd_hard_error_limit per session; this is the per-address part) */
#define THROTTLE_RECIPIENT_WEIGHT 5
#define THROTTLE_DECAY_MS (60 * 1000)
/* RFC 1939 13 and RFC 4954 4 ask servers to slow down password guessers. Our choice: the
   first failure waits 1 s before its reply, each further one twice as long, at most 16 s.
   --auth-delay (ms) */
#define THROTTLE_DELAY_MS 1000
#define THROTTLE_DELAY_MAX_MS (16 * 1000)
/* Our choice (fail2ban's bantime): a blocked address is refused this long. --auth-block (s) */
#define THROTTLE_BLOCK_S (10 * 60)
/* Our choice: addresses remembered besides those with a session open (about 100 bytes each) */
#define THROTTLE_MAX_ADDRESSES 4096
/* Our choice: each refused connection is logged, up to this many lines per address in this
   interval; a flood beyond is counted, and the next line says how many were left out */
#define THROTTLE_LOG_BURST 5
#define THROTTLE_LOG_INTERVAL_MS (10 * 1000)
/* IPv6 addresses are counted by their /64 prefix (RFC 4291 2.5.1: one subnet, one site), so
   one host cannot get round the limits by using every address of its subnet */
#define THROTTLE_IPV6_PREFIX_BYTES 8

#endif
