/*
 * fuzz.h - shared by the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput, the entry point of clang's
 * libFuzzer (tests/fuzz/run.sh builds them with -fsanitize=fuzzer).  Built
 * with FUZZ_STANDALONE instead, this header adds a main that replays the
 * files and directories named on the command line through the same function,
 * so a corpus or a crash reproducer runs under any compiler (the ctests
 * fuzz_replay_* do this with the seed corpus and tests/fuzz/regress/).
 *
 * A target checks more than "no crash": FUZZ_CHECK states a property of the
 * parser (a refusal leaves the output absent and names the input, an
 * accepted image reads back the same after a round trip, loading from a
 * path agrees with parsing from memory ...) and aborts, so that libFuzzer
 * records the input, when it does not hold.
 */
#ifndef ATTN_FUZZ_H
#define ATTN_FUZZ_H

#define _GNU_SOURCE /* memfd_create */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                                        \
    do {                                                                                                             \
        if (!(cond)) {                                                                                               \
            fprintf(stderr, "%s:%d: fuzz property failed: %s\n  ", __FILE__, __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                                            \
            fprintf(stderr, "\n");                                                                                   \
            abort();                                                                                                 \
        }                                                                                                            \
    } while (0)

/* What the replay expects of the current input, from its file name: a
 * reproducer of a wrongly accepted input is named refuse-*, one of a wrongly
 * refused input accept-*; -1 (no expectation) for every other name and
 * always under libFuzzer.  Each target ends with fuzz_expect_status. */
static int fuzz_expect_ok = -1;

static inline void fuzz_expect_status(int accepted, const char *why)
{
    if (fuzz_expect_ok >= 0 && accepted != fuzz_expect_ok) {
        fprintf(stderr, "replay: this input must be %s, it was %s%s\n", fuzz_expect_ok ? "accepted" : "refused",
                accepted ? "accepted" : "refused: ", accepted ? "" : why);
        abort();
    }
}

/* The bytes as a file: an in-memory file (memfd) rewritten for each input,
 * named by its /proc/self/fd path, so the path-taking readers can be
 * compared with the in-memory ones without touching the disk.  Returns the
 * path (a static buffer), or NULL when memfd is unavailable. */
static inline const char *fuzz_as_file(const uint8_t *data, size_t size)
{
    static int fd = -2;
    static char path[64];
    if (fd == -2) {
        fd = memfd_create("attn-fuzz", 0);
        if (fd >= 0)
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (fd < 0 || ftruncate(fd, 0) != 0)
        return NULL;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
        if (w <= 0)
            return NULL;
        done += (size_t)w;
    }
    return path;
}

#ifdef FUZZ_STANDALONE
#include "csv.h"

#include <dirent.h>
#include <sys/stat.h>

static int fuzz_replay_file(const char *path)
{
    size_t n;
    char *buf = cli_read_file(path, &n); /* tools/csv.c */
    if (!buf) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    /* An exact-size copy, so that ASan sees reads past the input's end. */
    uint8_t *exact = malloc(n ? n : 1);
    if (n)
        memcpy(exact, buf, n);
    free(buf);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    fuzz_expect_ok = strncmp(base, "refuse-", 7) == 0 ? 0 : strncmp(base, "accept-", 7) == 0 ? 1 : -1;
    LLVMFuzzerTestOneInput(exact, n);
    fuzz_expect_ok = -1;
    free(exact);
    return 1;
}

static int fuzz_name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A file, or every file of a directory (not recursive, no dot files, in
 * name order).  Returns the number replayed, -1 on an unreadable input. */
static int fuzz_replay_path(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "replay: no such file or directory: %s\n", path);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode))
        return fuzz_replay_file(path);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        snprintf(names[n], len, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, fuzz_name_cmp);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        int r = fuzz_replay_path(names[i]);
        if (r < 0)
            count = -1;
        else if (count >= 0)
            count += r;
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...   (replays each input through the fuzz target)\n", argv[0]);
        return 2;
    }
    int total = 0;
    for (int i = 1; i < argc; i++) {
        int r = fuzz_replay_path(argv[i]);
        if (r < 0)
            return 1;
        total += r;
    }
    printf("%s: replayed %d inputs, every property held\n", argv[0], total);
    return total > 0 ? 0 : 1;
}
#endif /* FUZZ_STANDALONE */

#endif /* ATTN_FUZZ_H */
