/*  dash.h — the dashboard: a snapshot of the store read read-only (mailboxes, lists and
    members, the outbound queue, leases), and the live feed: one thread polls the store
    (short read transactions, never pinning the WAL) for new deliveries and the counters,
    and every dashboard's event stream reads from its ring. */
#ifndef MAILBUS_WEB_DASH_H
#define MAILBUS_WEB_DASH_H

#include "web.h"

/* How often the feed looks for new deliveries */
#define FEED_POLL_MS 200
/* Events kept for the streams (a slower viewer resynchronises from the snapshot): more than
   one poll can bring (FEED_BATCHES batches of FEED_BATCH deliveries), about 1.5 MiB */
#define FEED_RING 10240
#define FEED_BATCH 1000
#define FEED_BATCHES 8
/* One-second samples of the counters kept for the chart: five minutes */
#define FEED_HISTORY 300

/* Starts the feed thread on the database at path */
feed_t *feed_new (const char *path, web_t *web);
void feed_destroy (feed_t **self_p);

/* GET /api/dashboard: 200 with the snapshot JSON, 503 when the database cannot be read */
enum MHD_Result dash_snapshot (request_t *req);
/* GET /api/dashboard/events: the live feed (SSE events delivery, counters, status) */
enum MHD_Result dash_events (request_t *req);

#endif
