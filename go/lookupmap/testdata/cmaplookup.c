/*
 * cmaplookup: an independent C reader of the binary lookup map (version
 * 1001), written from the layout in docs/protocol.md section 7.2 with the
 * C structs an original client compiles (natural alignment, native byte
 * order), used by lookupmap_test.go to check that the Go writer's bytes
 * are what such a client maps.
 *
 *   cmaplookup <map> <searchKey>...
 *
 * prints "<searchKey> <value>" or "<searchKey> -30" per key; exit 1 on a
 * map it cannot use (message on stderr).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct relativeHashMap {
    uint32_t version;
    char remapFlag;
    uint32_t hashTableSize;
    uint32_t maximumEntryIndex;
    uint32_t mapSize;
    uint32_t entryBaseOffset;
    uint32_t stringBaseOffset;
    uint32_t hashTable[1];
};

struct hashMapEntry {
    int32_t keyOffset, keyLength, valueOffset, valueLength, nextIndex;
};

static uint32_t hash(const char *p, int n)
{
    uint32_t h = 0;
    for (int i = 0; i < n; i++) {
        h += h << 5;
        h ^= (unsigned char)p[i];
    }
    return h;
}

int main(int argc, char **argv)
{
    if (sizeof(struct relativeHashMap) != 32 || sizeof(struct hashMapEntry) != 20) {
        fprintf(stderr, "unexpected struct sizes %zu %zu\n", sizeof(struct relativeHashMap), sizeof(struct hashMapEntry));
        return 1;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size < (off_t)sizeof(struct relativeHashMap)) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    const char *base = mmap(0, sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    const struct relativeHashMap *m = (const void *)base;
    if (m->version != 1001 || m->remapFlag != 'n' || m->mapSize != (uint32_t)sb.st_size) {
        fprintf(stderr, "version %u flag %c size %u\n", m->version, m->remapFlag, m->mapSize);
        return 1;
    }
    const struct hashMapEntry *entries = (const void *)(base + m->entryBaseOffset);
    const char *strings = base + m->stringBaseOffset;
    for (int a = 2; a < argc; a++) {
        const char *q = argv[a];
        int len = (int)strlen(q);
        const char *found = 0;
        int foundLen = 0;
        while (len > 0 && !found) {
            uint32_t ix = m->hashTable[hash(q, len) % m->hashTableSize];
            while (ix != 0 && ix <= m->maximumEntryIndex) {
                const struct hashMapEntry *e = &entries[ix];
                if (e->keyLength == len && strncmp(q, strings + e->keyOffset, len) == 0) {
                    found = strings + e->valueOffset;
                    foundLen = e->valueLength;
                    break;
                }
                ix = e->nextIndex;
            }
            for (len--; len > 0; len--)
                if (q[len] == '.')
                    break;
        }
        if (found)
            printf("%s %.*s\n", q, foundLen, found);
        else
            printf("%s -30\n", q);
    }
    return 0;
}
