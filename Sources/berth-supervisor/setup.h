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

/* Sets up the container and execs its command; returns only on failure, after writing a
 * setup_error to error_fd. */
void container_main(const struct config *c, int error_fd) __attribute__((noreturn));

#endif
