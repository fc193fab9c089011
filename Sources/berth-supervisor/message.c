#include "message.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int message_send(int sock, const void *data, size_t len, const int *fds, int nfds) {
    struct iovec iov = {(void *)data, len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * MESSAGE_FDS)];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t r;
    do r = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -1 : 0;
}

int message_sendf(int sock, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    return message_send(sock, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, NULL, 0);
}

ssize_t message_recv(int sock, char *buf, size_t size, int fds[MESSAGE_FDS], int *nfds) {
    struct iovec iov = {buf, size - 1};
    union {
        char buf[CMSG_SPACE(sizeof(int) * MESSAGE_FDS)];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    for (int i = 0; i < MESSAGE_FDS; i++) fds[i] = -1;
    *nfds = 0;
    ssize_t r;
    do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int got[64];
        memcpy(got, CMSG_DATA(c), sizeof(int) * (size_t)(n < 64 ? n : 64));
        for (int i = 0; i < n && i < 64; i++) {
            if (*nfds < MESSAGE_FDS) fds[(*nfds)++] = got[i];
            else close(got[i]); /* more than asked for: not ours to keep */
        }
    }
    /* A truncated packet is a protocol error; the caller sees a length that fills the buffer. */
    buf[r] = 0;
    return r;
}
