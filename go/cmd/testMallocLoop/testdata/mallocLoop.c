/*
 * mallocLoop: the testMallocLoop helper for data limits too small for the
 * Go runtime to start (RLIMIT_DATA below about 64 MB, e.g. the original's
 * 1 MB tests). Like the original's mallocLoop it allocates until the
 * allocation fails: it mallocs and touches 1 MB at a time, logs progress
 * every 16 MB, and when malloc returns NULL logs
 * "testMallocLoop: malloc failed after N MB: <strerror>" and exits 1.
 * It needs nothing but libc, so it starts under a 1 MB data limit.
 * The tests compile it at test time with cc.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    const size_t mb = 1024 * 1024;
    for (int n = 0; n < 65536; n++) {
        char *p = malloc(mb);
        if (p == NULL) {
            int e = errno;
            fprintf(stderr, "testMallocLoop: malloc failed after %d MB: %s\n", n, strerror(e));
            return 1;
        }
        memset(p, 1, mb);
        if ((n + 1) % 16 == 0)
            fprintf(stderr, "testMallocLoop: %d MB\n", n + 1);
    }
    fprintf(stderr, "testMallocLoop: allocated 65536 MB without failure\n");
    return 0;
}
