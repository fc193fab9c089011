/* The supervisor's clients: `berth run` and `start -a` (the connection passed at spawn on
 * fd 5), `berth attach` and `berth exec` (connections to ROOT/containers/ID/attach.sock).
 * message.h describes what they say. */
#ifndef BERTH_SESSION_H
#define BERTH_SESSION_H

#include <poll.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include "config.h"

struct sock_fprog;

struct supervisor {
    const struct config *config;
    const struct sock_fprog *filter; /* the container's seccomp filter, also for exec */
    pid_t pid;                       /* the container's PID 1, 0 before it starts */
    bool exited;
    int stdin_fd; /* where clients' input goes (a pipe, or the terminal's master), or -1 */
    int master;   /* the terminal's master side, or -1 */
};
extern struct supervisor sup;

/* A connection whose first message is still to come. */
void session_add(int sock);
/* Handles the first message of the spawn-time client before the container starts (blocking),
 * so no output is missed; *size gets its terminal's size. */
void session_first(int sock, struct winsize *size);
/* Adds the fds to poll for clients to p (at most `room`); returns how many. */
int session_poll_fds(struct pollfd *p, int room);
/* Acts on what poll returned for those fds. */
void session_events(const struct pollfd *p, int n);
/* A child the supervisor reaped that is not the container: an exec's process. */
void session_reaped(pid_t pid, int status);
/* The container has ended with exit_code: every attached client is told, and let go. */
void session_finish(int exit_code);

#endif
