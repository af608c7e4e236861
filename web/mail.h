/*  mail.h — the webmail routes: a user's mailbox through the broker (the broker stays the
    only writer): log in and out, list, read (MIME rendered), the HTML frame, attachments,
    delete, compose and send, list subscriptions, and new mail live (WATCH as SSE). */
#ifndef MAILBUS_WEB_MAIL_H
#define MAILBUS_WEB_MAIL_H

#include "web.h"

enum MHD_Result mail_login (request_t *req);
enum MHD_Result mail_logout (request_t *req);
enum MHD_Result mail_session (request_t *req);
enum MHD_Result mail_list (request_t *req);
enum MHD_Result mail_read (request_t *req);
enum MHD_Result mail_html (request_t *req);
enum MHD_Result mail_part (request_t *req);
enum MHD_Result mail_delete (request_t *req);
enum MHD_Result mail_send (request_t *req);
/* /api/subscribe and /api/unsubscribe */
enum MHD_Result mail_subscribe (request_t *req);
enum MHD_Result mail_events (request_t *req);

#endif
