/*
 * test_file.c - attn_file_write_atomic: parts written in order, permissions
 * kept, and failures that leave the target as it was and no temporary.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include "testutil.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int count_entries(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static size_t read_back(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/attn_test_file.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char path[128], buf[64];
    snprintf(path, sizeof path, "%s/out.bin", dir);

    attn_bytes parts[3] = {{"head-", 5}, {NULL, 0}, {"tail", 4}};
    CHECK_OK(attn_file_write_atomic(path, parts, 3));
    size_t n = read_back(path, buf, sizeof buf);
    CHECK(n == 9 && memcmp(buf, "head-tail", 9) == 0, "parts in order: got %zu bytes '%.*s'", n, (int)n, buf);
    CHECK(count_entries() == 1, "no temporary left after a success (%d entries)", count_entries());

    /* an existing file keeps its mode and is replaced whole */
    chmod(path, 0640);
    attn_bytes shorter = {"xy", 2};
    CHECK_OK(attn_file_write_atomic(path, &shorter, 1));
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640, "mode kept: %o", (unsigned)(sb.st_mode & 0777));
    n = read_back(path, buf, sizeof buf);
    CHECK(n == 2 && memcmp(buf, "xy", 2) == 0, "replaced whole: %zu bytes", n);

    /* failures: nothing changes, nothing is left */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/dir.bin", dir);
    CHECK_FAILS(attn_file_write_atomic(missing, &shorter, 1), ATTN_ERR_IO, "cannot create the temporary file");
    char sub[160];
    snprintf(sub, sizeof sub, "%s/adir", dir);
    mkdir(sub, 0700);
    CHECK_FAILS(attn_file_write_atomic(sub, &shorter, 1), ATTN_ERR_IO, "adir: cannot rename the temporary file over it");
    CHECK(count_entries() == 2, "failed writes leave no temporary (%d entries)", count_entries());
    attn_bytes bad = {NULL, 3};
    CHECK_FAILS(attn_file_write_atomic(path, &bad, 1), ATTN_ERR_MISUSE, "part 0 has 3 bytes but no data");
    CHECK_FAILS(attn_file_write_atomic(path, NULL, 2), ATTN_ERR_MISUSE, "parts is NULL");
    CHECK_FAILS(attn_file_write_atomic(NULL, &shorter, 1), ATTN_ERR_MISUSE, "path is NULL");
    n = read_back(path, buf, sizeof buf);
    CHECK(n == 2 && memcmp(buf, "xy", 2) == 0, "a refused write leaves the file as it was");

    rmdir(sub);
    unlink(path);
    rmdir(dir);
    return test_summary("test_file");
}
