/*
 * pkt.h: the smallest Pluton packet scanner, shared by the C floor server
 * and the raw C client. Netstrings are skipped by their length, so scanning
 * a partial packet again after each read costs O(fields), not O(bytes).
 */
#ifndef PLB_PKT_H
#define PLB_PKT_H

#include <stddef.h>

/* A field's payload: offset into the buffer and length; off < 0 if absent. */
struct pkt_field {
	long off;
	long len;
};

struct pkt {
	struct pkt_field id;   /* 'b' */
	struct pkt_field name; /* 'a' */
	struct pkt_field data; /* 'k' (request) or 'q' (response) */
	size_t end;            /* bytes of the packet, up to and including "0z\n" */
	size_t need;           /* when incomplete: buffer size that would hold the field in progress */
};

/*
 * pkt_scan scans buf[0:len] for a packet of type want ('Q' or 'A'), taking
 * data from field datatype. It returns 1 when the packet is complete, 0 when
 * more bytes are needed, -1 when the bytes are not a packet.
 */
static int pkt_scan(const char *buf, size_t len, char want, char datatype, struct pkt *p)
{
	size_t i = 0;
	int first = 1;
	p->id.off = p->name.off = p->data.off = -1;
	p->id.len = p->name.len = p->data.len = 0;
	p->need = 0;
	for (;;) {
		size_t n = 0, start = i;
		int digits = 0;
		while (i < len && buf[i] >= '0' && buf[i] <= '9') {
			n = n * 10 + (size_t)(buf[i] - '0');
			if (++digits > 9)
				return -1;
			i++;
		}
		if (i >= len) {
			p->need = len + 16;
			return 0;
		}
		if (digits == 0)
			return -1;
		char t = buf[i++];
		if (first && t != want)
			return -1;
		first = 0;
		if (i + n + 1 > len) {
			p->need = i + n + 1;
			return 0;
		}
		char term = buf[i + n];
		if (term != ',' && term != '\n')
			return -1;
		struct pkt_field f = {(long)i, (long)n};
		if (t == 'b')
			p->id = f;
		else if (t == 'a')
			p->name = f;
		else if (t == datatype)
			p->data = f;
		i += n + 1;
		if (t == 'z') {
			p->end = i;
			return 1;
		}
		(void)start;
	}
}

#endif
