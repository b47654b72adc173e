/*
 * file.c - atomic file writes, shared by every writer of attn (.npy files,
 * checkpoints, pictures, reports): a temporary file beside the target is
 * filled, made durable (fsync) and renamed over the target, so a reader sees
 * the old file or the new one, never a mixture, and a failure leaves the
 * target as it was and no temporary behind.
 */
#define _XOPEN_SOURCE 700 /* mkstemp, fsync, fchmod under -std=c11 */

#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The permission bits a new file would get from open(path, O_CREAT, 0666):
 * mkstemp creates 0600, which would surprise users sharing outputs.  The
 * process umask cannot be read without changing it (racy with other
 * threads), so it is read from /proc on Linux; elsewhere keep 0600. */
static mode_t new_file_mode(void)
{
    mode_t mode = 0600;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return mode;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned mask;
        if (sscanf(line, "Umask: %o", &mask) == 1) {
            mode = (mode_t)(0666 & ~mask);
            break;
        }
    }
    fclose(f);
    return mode;
}

/* write() all n bytes, retrying short writes and EINTR. */
static bool write_all(int fd, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        if (w == 0) {
            errno = EIO;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

attn_status attn_file_write_atomic(const char *path, const attn_bytes *parts, size_t n_parts)
{
    if (!path)
        return attn_fail(ATTN_ERR_MISUSE, "attn_file_write_atomic: path is NULL");
    if (n_parts > 0 && !parts)
        return attn_fail(ATTN_ERR_MISUSE, "%s: not written: %zu parts but parts is NULL", path, n_parts);
    for (size_t i = 0; i < n_parts; i++)
        if (parts[i].size > 0 && !parts[i].data)
            return attn_fail(ATTN_ERR_MISUSE, "%s: not written: part %zu has %zu bytes but no data", path, i,
                             parts[i].size);

    static const char suffix[] = ".tmp.XXXXXX";
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof suffix);
    if (!tmp)
        return attn_fail(ATTN_ERR_NOMEM, "%s: out of memory naming the temporary file", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof suffix);

    int fd = mkstemp(tmp);
    if (fd < 0) {
        attn_status st =
            attn_fail(ATTN_ERR_IO, "%s: cannot create the temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return st;
    }
    /* An existing target keeps its permissions; a new one gets the usual
     * 0666 & ~umask.  Failing to set them is not worth failing the write. */
    struct stat sb;
    mode_t mode = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? (sb.st_mode & 07777) : new_file_mode();
    (void)fchmod(fd, mode);

    const char *step = NULL;
    int err = 0;
    for (size_t i = 0; i < n_parts && !step; i++)
        if (!write_all(fd, parts[i].data, parts[i].size))
            step = "write";
    if (!step && fsync(fd) != 0)
        step = "sync";
    if (step)
        err = errno;
    if (close(fd) != 0 && !step) {
        step = "close";
        err = errno;
    }
    if (!step && rename(tmp, path) != 0) {
        step = "rename the temporary file over";
        err = errno;
    }
    if (step) {
        unlink(tmp);
        free(tmp);
        return attn_fail(ATTN_ERR_IO, "%s: cannot %s it: %s; the file was not changed", path, step, strerror(err));
    }
    free(tmp);

    /* Make the rename itself durable.  Best effort: the new file is already
     * in place, and some file systems refuse fsync on a directory. */
    const char *slash = strrchr(path, '/');
    char *dir = slash ? malloc((size_t)(slash - path) + 2) : NULL;
    if (dir) {
        size_t dl = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, dl);
        dir[dl] = '\0';
    }
    int dfd = open(dir ? dir : ".", O_RDONLY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(dir);
    return ATTN_OK;
}
