/* Linux calls that Swift's Glibc module does not export (GNU extensions behind _GNU_SOURCE),
 * for berthd's event loop. */
#ifndef BERTH_CLINUX_H
#define BERTH_CLINUX_H

#include <signal.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

int clinux_signalfd(const sigset_t *mask);
/* A pipe, both ends close-on-exec and non-blocking. */
int clinux_pipe(int fds[2]);
/* A pipe whose ends are close-on-exec only: the write end becomes another process's output. */
int clinux_pipe_blocking(int fds[2]);
/* accept4 with SOCK_CLOEXEC | SOCK_NONBLOCK. */
int clinux_accept(int listener);
/* The signal number of the next pending signal on a signalfd, 0 when none, -1 on error. */
int clinux_read_signal(int fd);

#endif
