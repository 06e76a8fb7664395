/*
 * client.c: the raw C client. It keeps CONC exchanges in flight on
 * non-blocking Unix sockets driven by poll(2); each exchange connects, writes
 * one request packet, reads the response packet, checks it (id and data
 * length) and closes, like a Pluton client.
 *
 * usage: client SOCKET SIZE COUNT CONC DURATION_MS [KEY]
 * It stops after COUNT exchanges or DURATION_MS, whichever comes first, and
 * prints "ok N errors E elapsed_ns T" and then one latency in ns per line.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pkt.h"

enum { IDLE, WRITING, READING };

struct slot {
	int fd;
	int state;
	long id;
	uint64_t start;
	char head[256];
	size_t headlen;
	size_t sent; /* bytes of head+data+trailer written */
	char *buf;
	size_t cap, len;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct sockaddr_un sa;
static char *payload;
static size_t size;
static const char *key = "system.echo.0.raw";
static char cname[64];
static long nextid = 100;
static const char *trailer;
static size_t trailerlen;

/* start begins an exchange on s; it returns -1 if connect failed. */
static int start(struct slot *s)
{
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -1;
	s->start = now_ns();
	while (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) { /* listen backlog full: wait a little */
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
			continue;
		}
		close(s->fd);
		return -1;
	}
	s->id = nextid++;
	if (nextid > 10000000)
		nextid = 100;
	int h = snprintf(s->head, sizeof s->head, "0Q,%db%ld,%da%s,%dc%s,4l4000,", (int)snprintf(NULL, 0, "%ld", s->id),
			 s->id, (int)strlen(cname), cname, (int)strlen(key), key);
	if (size > 0)
		h += snprintf(s->head + h, sizeof s->head - h, "%zuk", size);
	s->headlen = (size_t)h;
	s->sent = 0;
	s->len = 0;
	s->state = WRITING;
	return 0;
}

/* pump writes what it can; returns 1 when everything is written, 0 if it would block, -1 on error. */
static int pump(struct slot *s)
{
	size_t total = s->headlen + size + trailerlen;
	while (s->sent < total) {
		struct iovec iov[3];
		int cnt = 0;
		size_t off = s->sent;
		const char *parts[3] = {s->head, payload, trailer};
		size_t lens[3] = {s->headlen, size, trailerlen};
		for (int i = 0; i < 3; i++) {
			if (off >= lens[i]) {
				off -= lens[i];
				continue;
			}
			iov[cnt].iov_base = (char *)parts[i] + off;
			iov[cnt].iov_len = lens[i] - off;
			off = 0;
			cnt++;
		}
		ssize_t n = writev(s->fd, iov, cnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		s->sent += (size_t)n;
	}
	return 1;
}

/* drain reads what it can; returns 1 when a valid response is complete, 0 if it would block, -1 on error. */
static int drain(struct slot *s)
{
	for (;;) {
		if (s->len == s->cap) {
			s->cap *= 2;
			s->buf = realloc(s->buf, s->cap);
		}
		ssize_t n = read(s->fd, s->buf + s->len, s->cap - s->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		if (n == 0)
			return -1;
		s->len += (size_t)n;
		struct pkt p;
		int st = pkt_scan(s->buf, s->len, 'A', 'q', &p);
		if (st < 0)
			return -1;
		if (st == 1) {
			if (p.id.off < 0 || strtol(s->buf + p.id.off, NULL, 10) != s->id)
				return -1;
			if ((size_t)(p.data.off < 0 ? 0 : p.data.len) != size)
				return -1;
			return 1;
		}
		if (p.need > s->cap) {
			s->cap = p.need;
			s->buf = realloc(s->buf, s->cap);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: client SOCKET SIZE COUNT CONC DURATION_MS [KEY]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	strncpy(sa.sun_path, argv[1], sizeof sa.sun_path - 1);
	size = (size_t)atol(argv[2]);
	long count = atol(argv[3]);
	int conc = atoi(argv[4]);
	uint64_t dur = (uint64_t)atol(argv[5]) * 1000000u;
	if (argc > 6)
		key = argv[6];
	snprintf(cname, sizeof cname, "cclient:%d", (int)getpid());
	payload = malloc(size + 1);
	for (size_t i = 0; i < size; i++)
		payload[i] = (char)('a' + i % 26);
	trailer = size > 0 ? ",0z\n" : "0z\n";
	trailerlen = strlen(trailer);

	uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)(count > 0 ? count : 1));
	struct slot *slots = calloc((size_t)conc, sizeof *slots);
	struct pollfd *pfd = calloc((size_t)conc, sizeof *pfd);
	for (int i = 0; i < conc; i++) {
		slots[i].cap = 16384;
		slots[i].buf = malloc(slots[i].cap);
		slots[i].state = IDLE;
		slots[i].fd = -1;
	}
	long done = 0, errors = 0, started = 0;
	uint64_t t0 = now_ns(), deadline = t0 + dur;
	int stopping = 0;
	for (;;) {
		uint64_t t = now_ns();
		if (t >= deadline)
			stopping = 1;
		int active = 0;
		for (int i = 0; i < conc; i++) {
			struct slot *s = &slots[i];
			while (s->state == IDLE && !stopping && started < count) {
				started++;
				if (start(s) < 0) {
					errors++;
					continue;
				}
				int st = pump(s);
				if (st < 0) {
					close(s->fd);
					s->state = IDLE;
					errors++;
				} else if (st == 1) {
					s->state = READING;
				}
			}
			pfd[i].fd = s->state == IDLE ? -1 : s->fd;
			pfd[i].events = s->state == WRITING ? POLLOUT : POLLIN;
			pfd[i].revents = 0;
			if (s->state != IDLE)
				active++;
		}
		if (active == 0)
			break;
		int n = poll(pfd, (nfds_t)conc, 1000);
		if (n < 0 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		for (int i = 0; i < conc && n > 0; i++) {
			struct slot *s = &slots[i];
			if (pfd[i].revents == 0 || s->state == IDLE)
				continue;
			int st;
			if (s->state == WRITING) {
				st = pump(s);
				if (st == 1) {
					s->state = READING;
					st = 0;
				}
			} else {
				st = drain(s);
			}
			if (st != 0) {
				close(s->fd);
				s->state = IDLE;
				if (st == 1)
					lat[done++] = now_ns() - s->start;
				else
					errors++;
			}
		}
	}
	uint64_t elapsed = now_ns() - t0;
	printf("ok %ld errors %ld elapsed_ns %llu\n", done, errors, (unsigned long long)elapsed);
	for (long i = 0; i < done; i++)
		printf("%llu\n", (unsigned long long)lat[i]);
	return 0;
}
