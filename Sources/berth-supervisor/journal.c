#include "journal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <endian.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

/* journald's native protocol, written here rather than linked from libsystemd: the library
 * and the compression and crypto libraries it pulls in cost each supervisor megabytes of
 * private (relocated) pages, and one datagram per entry is all the supervisor needs.
 * Each field is KEY=value\n, or, when the value holds a newline or other bytes that text
 * cannot carry, KEY\n, its length as 64-bit little endian, the value and \n. */
static int journal_fd = -1;
static const struct sockaddr_un journal_address = {AF_UNIX, "/run/systemd/journal/socket"};

static int journal_sendv(const struct iovec *fields, int n) {
    static char datagram[LINE_MAX_BYTES + 4096];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const char *field = fields[i].iov_base;
        size_t size = fields[i].iov_len;
        const char *eq = memchr(field, '=', size);
        if (!eq) continue;
        size_t key = (size_t)(eq - field), value = size - key - 1;
        bool binary = memchr(eq + 1, '\n', value) != NULL;
        if (len + size + 10 > sizeof datagram) return -EMSGSIZE;
        if (binary) {
            memcpy(datagram + len, field, key);
            len += key;
            datagram[len++] = '\n';
            uint64_t le = htole64((uint64_t)value);
            memcpy(datagram + len, &le, 8);
            len += 8;
            memcpy(datagram + len, eq + 1, value);
            len += value;
        } else {
            memcpy(datagram + len, field, size);
            len += size;
        }
        datagram[len++] = '\n';
    }
    if (journal_fd < 0) {
        journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (journal_fd < 0) return -errno;
        /* A large send buffer, as sd-journal uses, so bursts queue instead of blocking. */
        int size = 8 << 20;
        setsockopt(journal_fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
    }
    if (sendto(journal_fd, datagram, len, MSG_NOSIGNAL, (const struct sockaddr *)&journal_address,
               sizeof journal_address) < 0)
        return -errno;
    return 0;
}

static char field_name[300], field_identifier[300], field_id[64], field_id_full[100], field_image[600];

void journal_init(const struct log_fields *f) {
    snprintf(field_name, sizeof field_name, "CONTAINER_NAME=%s", f->name);
    snprintf(field_identifier, sizeof field_identifier, "SYSLOG_IDENTIFIER=%s", f->name);
    snprintf(field_id, sizeof field_id, "CONTAINER_ID=%.12s", f->id);
    snprintf(field_id_full, sizeof field_id_full, "CONTAINER_ID_FULL=%s", f->id);
    snprintf(field_image, sizeof field_image, "IMAGE_NAME=%s", f->image ? f->image : "");
}

static void iov_set(struct iovec *v, const char *s) {
    v->iov_base = (void *)s;
    v->iov_len = strlen(s);
}

/* One entry. The message is bytes (any bytes: the binary form of a field carries them), `part`
 * describes a piece of a split line. */
static void send_entry(const char *data, size_t len, int priority, const struct log_stream *part, bool last) {
    static const char message_prefix[] = "MESSAGE=";
    char message[sizeof message_prefix + LINE_MAX_BYTES];
    memcpy(message, message_prefix, sizeof message_prefix - 1);
    memcpy(message + sizeof message_prefix - 1, data, len);
    char prio[16], pid[64], ord[64], lastf[40];
    snprintf(prio, sizeof prio, "PRIORITY=%d", priority);
    struct iovec v[12];
    int n = 0;
    v[n].iov_base = message;
    v[n++].iov_len = sizeof message_prefix - 1 + len;
    iov_set(&v[n++], prio);
    iov_set(&v[n++], field_identifier);
    iov_set(&v[n++], field_name);
    iov_set(&v[n++], field_id);
    iov_set(&v[n++], field_id_full);
    iov_set(&v[n++], field_image);
    if (part && part->partial_id[0]) {
        snprintf(pid, sizeof pid, "CONTAINER_PARTIAL_ID=%s", part->partial_id);
        snprintf(ord, sizeof ord, "CONTAINER_PARTIAL_ORDINAL=%u", part->ordinal);
        snprintf(lastf, sizeof lastf, "CONTAINER_PARTIAL_LAST=%s", last ? "true" : "false");
        iov_set(&v[n++], pid);
        iov_set(&v[n++], ord);
        iov_set(&v[n++], lastf);
        if (!last) iov_set(&v[n++], "CONTAINER_PARTIAL_MESSAGE=true");
    }
    /* journald busy (its queue full): wait and retry for as long as it takes, so a burst slows
     * the container down instead of losing lines. journald restarting (no socket, refused):
     * retry for up to 10 s. */
    for (int attempt = 0;; attempt++) {
        int r = journal_sendv(v, n);
        if (r >= 0) break;
        if (r == -EAGAIN || r == -ENOBUFS || r == -EINTR) {
            usleep(attempt < 100 ? 1000 : 20000);
            continue;
        }
        if ((r == -ECONNREFUSED || r == -ENOENT) && attempt < 500) {
            usleep(20000);
            continue;
        }
        break;
    }
}

void journal_note(int priority, const char *message) {
    send_entry(message, strlen(message), priority, NULL, true);
}

static void new_partial_id(struct log_stream *s) {
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != sizeof raw) memset(raw, 0, sizeof raw);
    for (int i = 0; i < 16; i++) snprintf(s->partial_id + 2 * i, 3, "%02x", raw[i]);
    s->ordinal = 0;
}

/* A complete line (without its newline), possibly the end of a split one. */
static void emit_line(struct log_stream *s, const char *data, size_t len) {
    if (s->tty && len > 0 && data[len - 1] == '\r') len--;
    if (s->partial_id[0]) {
        s->ordinal++;
        send_entry(data, len, s->priority, s, true);
        s->partial_id[0] = 0;
    } else {
        send_entry(data, len, s->priority, NULL, true);
    }
}

/* A full buffer with no newline: one part of a long line. */
static void emit_part(struct log_stream *s) {
    if (!s->partial_id[0]) new_partial_id(s);
    s->ordinal++;
    send_entry(s->buf, s->len, s->priority, s, false);
    s->len = 0;
}

bool log_stream_read(struct log_stream *s) {
    ssize_t r;
    do r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno == EAGAIN) return true;
    /* A terminal's master reads EIO once the last holder of its other side is gone. */
    if (r <= 0) {
        log_stream_flush(s);
        close(s->fd);
        s->fd = -1;
        return false;
    }
    log_tee(s->index, s->buf + s->len, (size_t)r);
    s->len += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (s->buf[i] == '\n') {
            emit_line(s, s->buf + start, i - start);
            start = i + 1;
        }
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
    if (s->len == sizeof s->buf) emit_part(s);
    return true;
}

void log_stream_flush(struct log_stream *s) {
    if (s->len > 0 || s->partial_id[0]) emit_line(s, s->buf, s->len);
    s->len = 0;
}
