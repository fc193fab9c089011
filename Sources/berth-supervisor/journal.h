/* Container output to journald, a line per entry, with the fields of Docker's journald
 * driver. Lines longer than LINE_MAX_BYTES are split into parts marked as partial. */
#ifndef BERTH_JOURNAL_H
#define BERTH_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#define LINE_MAX_BYTES 16384

struct log_stream {
    int fd;       /* read end of the container's pipe, -1 once closed */
    int priority; /* 6 for stdout, 3 for stderr */
    int index;    /* 0 stdout (or the terminal), 1 stderr: which clients' fd log_tee copies to */
    bool tty;     /* a terminal's output: a line's trailing \r is not logged */
    char buf[LINE_MAX_BYTES];
    size_t len;
    char partial_id[33]; /* set while a long line is being split */
    unsigned ordinal;
};

struct log_fields {
    const char *name, *id, *image;
};

void journal_init(const struct log_fields *fields);
/* Reads what is available; returns false at end of file (the stream is then flushed). */
bool log_stream_read(struct log_stream *s);
void log_stream_flush(struct log_stream *s);
/* Implemented by the supervisor: copies raw output to attached clients. */
void log_tee(int index, const char *data, size_t len);
/* A message about the container from the supervisor itself. */
void journal_note(int priority, const char *message);

#endif
