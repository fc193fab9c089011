/* Messages between the supervisor and its clients (berth run, attach, start -a, exec): one
 * SOCK_SEQPACKET packet each, text, optionally carrying file descriptors (SCM_RIGHTS).
 *
 * client -> supervisor
 *   attach IN OUT ERR ONCE ROWS COLS   first message; IN/OUT/ERR (0|1) say which of the
 *                                      client's stdin, stdout, stderr follow as fds, in order;
 *                                      ONCE: its stdin's end closes the container's stdin
 *   exec\0RECORDS                      first message; RECORDS are supervisor.conf records
 *                                      (ARG, ENV, UID, GID, GROUP, CWD, TTY, ROWS, COLS);
 *                                      fds: stdin, stdout, stderr (none with TTY=1)
 *   mount\0SRC\0DST\0ro|rw              first message: mount host path SRC at DST in the
 *                                      running container (berthd's live volumes); ok or error
 *   umount\0DST                        first message: unmount DST in it; ok or error
 *   winch ROWS COLS                    the client's terminal changed size
 *   signal N                           pass signal N to the container's PID 1
 * supervisor -> client
 *   pid N                              an exec's process started (its PID on the host)
 *   tty                                an exec's terminal: the master side as an fd
 *   exit CODE                          the container (or the exec) ended with CODE; last message
 *   error CODE MESSAGE                 it could not start; last message
 *   detached                           the client typed ctrl-p ctrl-q; last message
 *   ok                                 a mount or umount was done; last message
 */
#ifndef BERTH_MESSAGE_H
#define BERTH_MESSAGE_H

#include <stddef.h>
#include <sys/types.h>

#define MESSAGE_MAX 65536
#define MESSAGE_FDS 3

/* Sends one packet; returns 0, or -1 with errno. Never raises SIGPIPE. */
int message_send(int sock, const void *data, size_t len, const int *fds, int nfds);
int message_sendf(int sock, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Receives one packet into buf (NUL-terminated; size must leave room) and up to MESSAGE_FDS
 * fds (close-on-exec; *nfds set to how many, the rest of fds[] set to -1). Returns the packet's
 * length, 0 at the end of the connection, -1 with errno. */
ssize_t message_recv(int sock, char *buf, size_t size, int fds[MESSAGE_FDS], int *nfds);

#endif
