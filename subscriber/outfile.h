/*  outfile.h — writing what mailbus-sub saves: names that cannot escape the directory
    (an attachment's filename comes from whoever sent the message), files that never
    overwrite one another, and durable writes (temporary file, fsync, rename, fsync of
    the directory) so a message is on disk before it is deleted from the mailbox. */
#ifndef MAILBUS_OUTFILE_H
#define MAILBUS_OUTFILE_H

#include <stddef.h>

/* 0 when dir is an existing, writable directory; -1 with a message in *error (caller frees) */
int outfile_check_dir (const char *dir, char **error);

/* A safe file name made from name (untrusted): its last path component only, control
   characters, '/' and '\' replaced, no leading dots (so never "." or ".."), at most 200
   bytes; fallback when nothing is left. Caller frees. */
char *outfile_safe_name (const char *name, const char *fallback);

/* Creates dir/name, or dir/name-1.ext, dir/name-2.ext ... when it exists, and writes data.
   Returns 0 and the path in *path (caller frees), or -1 with *error. */
int outfile_write_new (const char *dir, const char *name, const void *data, size_t size, char **path,
                       char **error);

/* Writes dir/name durably, replacing any file of that name: dir/name.tmp, fsync, rename,
   fsync dir. Returns 0 and the path in *path (caller frees), or -1 with *error. */
int outfile_write_durable (const char *dir, const char *name, const void *data, size_t size, char **path,
                           char **error);

#endif
