/*  admin.h — mailbox administration in one include: the admin protocol served against the
    store (admin_server.h), the CLI side (admin_cli.h) and the lock file and admin endpoint
    they share (admin_paths.h). */
#ifndef MAILBUS_ADMIN_H
#define MAILBUS_ADMIN_H

#include "admin_cli.h"
#include "admin_paths.h"
#include "admin_server.h"

#endif
