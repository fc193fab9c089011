/* The container side: everything between clone and exec. Runs in the cloned child of the
 * single-threaded supervisor, so only plain C runs here, never Swift. */
#ifndef BERTH_SETUP_H
#define BERTH_SETUP_H

#include "config.h"

/* What the child tells the supervisor when setup or exec fails (written to the error pipe,
 * which closes on a successful exec). */
struct setup_error {
    int exit_code; /* 125 setup, 126 cannot execute, 127 not found */
    int err;       /* errno */
    char message[512];
};

struct sock_fprog;
struct winsize;

/* Reads the error pipe of a child in setup (closing it): false when the child exec'd (the pipe
 * closed empty); true when it failed, after reaping it, with *failure filled. */
bool setup_failed(int error_fd, pid_t child, struct setup_error *failure);

/* The seccomp filter berth compiled (a BPF program), or NULL with errno. */
struct sock_fprog *seccomp_read(const char *path);

/* Sets up the container and execs its command; never returns (on failure it writes a
 * setup_error to error_fd and exits). The root filesystem is set up at once; the rest waits for
 * a byte on proceed_fd (the process is then in its scope). With a terminal (c->tty), its
 * master side is sent on console_fd. */
void container_main(const struct config *c, int error_fd, int proceed_fd, const struct sock_fprog *filter,
                    int console_fd, const struct winsize *size) __attribute__((noreturn));

/* `berth exec`: joins the namespaces of the container whose PID 1 is `target` (the PID
 * namespace already joined by the caller), then runs c's process as container_main would,
 * on the client's stdio, or on a new terminal whose master side is sent to `client`. */
void exec_main(const struct config *c, pid_t target, int error_fd, const struct sock_fprog *filter, int client,
               const int stdio[3], const struct winsize *size) __attribute__((noreturn));

#endif
