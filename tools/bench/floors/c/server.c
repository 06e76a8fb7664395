/*
 * server.c: the C floor server. It binds a Unix socket once, forks WORKERS
 * children that each accept one connection at a time, read one request
 * packet, write the echo response packet and close: exactly the exchange a
 * Pluton service instance makes, with nothing else.
 *
 * usage: server SOCKET WORKERS
 * The parent waits; SIGTERM to the process group ends everything.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkt.h"

static int write_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t n = writev(fd, iov, cnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static void serve(int lfd)
{
	size_t cap = 16384;
	char *buf = malloc(cap);
	char name[64];
	int namelen = snprintf(name, sizeof name, "echo:%d/0", (int)getpid());
	char head[256];
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("accept");
			exit(1);
		}
		size_t len = 0;
		struct pkt p;
		int st = 0;
		for (;;) {
			if (len == cap) {
				cap *= 2;
				buf = realloc(buf, cap);
			}
			ssize_t n = read(c, buf + len, cap - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				st = -1;
				break;
			}
			len += (size_t)n;
			st = pkt_scan(buf, len, 'Q', 'k', &p);
			if (st != 0)
				break;
			if (p.need > cap) {
				cap = p.need;
				buf = realloc(buf, cap);
			}
		}
		if (st == 1) {
			/* 0A, <n>b<id>, [<n>a<name>,] <n>s<svc>, [<n>q<data>,] 0z\n */
			int h = snprintf(head, sizeof head, "0A,%ldb%.*s,", p.id.len, (int)p.id.len, buf + p.id.off);
			if (p.name.off >= 0 && p.name.len < 100)
				h += snprintf(head + h, sizeof head - h, "%lda%.*s,", p.name.len, (int)p.name.len,
					      buf + p.name.off);
			h += snprintf(head + h, sizeof head - h, "%ds%s,", namelen, name);
			struct iovec iov[3];
			int cnt;
			iov[0].iov_base = head;
			if (p.data.len > 0) {
				h += snprintf(head + h, sizeof head - h, "%ldq", p.data.len);
				iov[1].iov_base = buf + p.data.off;
				iov[1].iov_len = (size_t)p.data.len;
				iov[2].iov_base = ",0z\n";
				iov[2].iov_len = 4;
				cnt = 3;
			} else {
				iov[1].iov_base = "0z\n";
				iov[1].iov_len = 3;
				cnt = 2;
			}
			iov[0].iov_len = (size_t)h;
			write_all(c, iov, cnt);
		}
		close(c);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: server SOCKET WORKERS\n");
		return 2;
	}
	int workers = atoi(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof sa.sun_path) {
		fprintf(stderr, "socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) {
		perror("bind/listen");
		return 1;
	}
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			serve(lfd);
			_exit(0);
		}
		if (pid < 0) {
			perror("fork");
			return 1;
		}
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
