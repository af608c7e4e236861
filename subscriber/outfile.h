/*  outfile.h — writing what mailbus-sub saves: names that cannot escape the directory
    (an attachment's filename comes from whoever sent the message), files that never
    overwrite one another, and durable writes (temporary file, fsync, rename, fsync of
    the directory) so a message is on disk before it is deleted from the mailbox.
    Nothing here follows a symbolic link planted in the directory: files are created with
    O_EXCL|O_NOFOLLOW under random temporary names and renamed into place, and the
    directory must be ours and writable by nobody else (as ssh's StrictModes wants). */
#ifndef MAILBUS_OUTFILE_H
#define MAILBUS_OUTFILE_H

#include <stddef.h>

/* Makes dir when it is missing, and its missing parents, each 0700 (mkdir -p -m 0700),
   then checks that it is a directory owned by us, writable by us and by neither group nor
   others. 0, or -1 with a message in *error (caller frees) */
int outfile_prepare_dir (const char *dir, char **error);

/* A safe file name made from name (untrusted): its last path component only, control
   characters, ':', '/' and '\' replaced by '_', bytes that are not valid UTF-8 replaced by
   '_', no leading dots or spaces (so never "." or ".."), no trailing ones, at most
   OUTFILE_MAX_NAME bytes without cutting a UTF-8 sequence; fallback when nothing is left.
   Caller frees. */
char *outfile_safe_name (const char *name, const char *fallback);

/* POSIX NAME_MAX is 255 on the usual file systems; 200 leaves room for "-N", the
   extension and the temporary name ".NAME.<16 hex>.tmp" */
#define OUTFILE_MAX_NAME 200

typedef enum { OUTFILE_ABSENT, OUTFILE_SAME, OUTFILE_OTHER } outfile_state_t;

/* What dir/name is: absent, a regular file holding exactly data, or anything else (another
   content, a symbolic link, a directory ...). Never follows a link. */
outfile_state_t outfile_state (const char *dir, const char *name, const void *data, size_t size);

/* Creates dir/name, or dir/name-1.ext, dir/name-2.ext ... when it exists, and writes data
   (mode 0600). Returns 0 and the path in *path (caller frees), or -1 with *error. */
int outfile_write_new (const char *dir, const char *name, const void *data, size_t size, char **path,
                       char **error);

/* Writes dir/name durably (mode 0600), replacing any entry of that name (a symbolic link
   there is replaced, never followed): a new random temporary file, fsync, rename, fsync of
   dir. Returns 0 and the path in *path (caller frees), or -1 with *error. */
int outfile_write_durable (const char *dir, const char *name, const void *data, size_t size, char **path,
                           char **error);

#endif
