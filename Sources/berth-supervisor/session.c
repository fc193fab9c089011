#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "livemount.h"
#include "message.h"
#include "setup.h"

struct supervisor sup = {.stdin_fd = -1, .master = -1};

enum kind { FREE, NEW, ATTACH, EXEC };

struct client {
    enum kind kind;
    int sock;
    int in, out, err; /* an attached client's own stdio, or -1 */
    bool once;        /* the end of its stdin closes the container's */
    bool saw_ctrl_p;  /* the first key of the detach sequence, held back */
    pid_t exec_pid;
};

#define MAX_CLIENTS 32
static struct client clients[MAX_CLIENTS];

/* Client input the container has not read yet: one buffer, so a container that does not read
 * its stdin holds back its clients' input and never the supervisor. */
static char pending[4096];
static size_t pending_len, pending_off;
static bool close_stdin_after_pending;

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void drop(struct client *cl) {
    close_fd(&cl->sock);
    close_fd(&cl->in);
    close_fd(&cl->out);
    close_fd(&cl->err);
    cl->kind = FREE;
}

static void close_fds(int *fds, int n) {
    for (int i = 0; i < n; i++) close_fd(&fds[i]);
}

/* The end of input: a pipe is closed (the container reads EOF); a terminal stays open. */
static void close_container_stdin(void) {
    if (pending_len > pending_off) {
        close_stdin_after_pending = true;
        return;
    }
    if (sup.master < 0) close_fd(&sup.stdin_fd);
}

void session_add(int sock) {
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].kind == FREE) {
            clients[i] = (struct client){.kind = NEW, .sock = sock, .in = -1, .out = -1, .err = -1};
            return;
        }
    }
    message_sendf(sock, "error 125 too many clients attached");
    close(sock);
}

/* `berth exec`: a process in the container's namespaces, run as its first process was (same
 * capabilities, seccomp filter and limits) with the request's command, environment, user and
 * working directory. It is our child, so it is in the container's scope. */
static void start_exec(struct client *cl, char *records, size_t len, int *fds, int nfds) {
    static bool joined_pid_namespace;
    if (!sup.pid || sup.exited) {
        message_sendf(cl->sock, "error 125 the container is not running");
        close_fds(fds, nfds);
        drop(cl);
        return;
    }
    struct config *request = calloc(1, sizeof *request), *process = malloc(sizeof *process);
    if (!request || !process || config_parse(records, len, request) < 0 || request->nargv == 0 ||
        (!request->tty && nfds != 3)) {
        message_sendf(cl->sock, "error 125 invalid exec request");
        goto out;
    }
    memcpy(process, sup.config, sizeof *process);
    memcpy(process->argv, request->argv, sizeof process->argv);
    process->nargv = request->nargv;
    memcpy(process->env, request->env, sizeof process->env);
    process->nenv = request->nenv;
    process->uid = request->uid;
    process->gid = request->gid;
    memcpy(process->groups, request->groups, sizeof process->groups);
    process->ngroups = request->ngroups;
    if (request->cwd) process->cwd = request->cwd;
    process->tty = request->tty;
    process->init = false;
    struct winsize size = {.ws_row = request->rows, .ws_col = request->cols};

    /* Our later children are born in the container's PID namespace. */
    if (!joined_pid_namespace) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/pid", sup.pid);
        int ns = open(path, O_RDONLY | O_CLOEXEC);
        if (ns < 0 || setns(ns, CLONE_NEWPID) < 0) {
            message_sendf(cl->sock, "error 125 cannot join the container's PID namespace: %s", strerror(errno));
            if (ns >= 0) close(ns);
            goto out;
        }
        close(ns);
        joined_pid_namespace = true;
    }
    int fail[2];
    if (pipe2(fail, O_CLOEXEC) < 0) {
        message_sendf(cl->sock, "error 125 pipe: %s", strerror(errno));
        goto out;
    }
    /* A plain fork is safe: this process has one thread. */
    pid_t pid = fork();
    if (pid < 0) {
        message_sendf(cl->sock, "error 125 cannot start the process: %s", strerror(errno));
        close(fail[0]);
        close(fail[1]);
        goto out;
    }
    if (pid == 0) {
        close(fail[0]);
        exec_main(process, sup.pid, fail[1], sup.filter, cl->sock, fds, &size);
    }
    close(fail[1]);
    struct setup_error failure;
    if (setup_failed(fail[0], pid, &failure)) {
        message_sendf(cl->sock, "error %d %s", failure.exit_code, failure.message);
        goto out;
    }
    cl->kind = EXEC;
    cl->exec_pid = pid;
    message_sendf(cl->sock, "pid %d", pid);
    close_fds(fds, nfds);
    free(request);
    free(process);
    return;
out:
    close_fds(fds, nfds);
    free(request);
    free(process);
    drop(cl);
}

/* "mount\0SOURCE\0TARGET\0ro|rw" or "umount\0TARGET" (berthd's volume changes): done before the
 * reply, in a child that joins the container's mount namespace (livemount.h). */
static void live_request(struct client *cl, const char *buf, size_t n) {
    const char *field[4] = {0};
    size_t count = 0;
    for (size_t i = 0; i < n && count < 4; i += strlen(buf + i) + 1) field[count++] = buf + i;
    char err[512] = "";
    int code;
    bool mount = !strcmp(field[0], "mount");
    if (!sup.pid || sup.exited) {
        code = 125;
        snprintf(err, sizeof err, "the container is not running");
    } else if (mount ? count != 4 || field[2][0] != '/' : count != 2 || field[1][0] != '/') {
        code = 125;
        snprintf(err, sizeof err, "invalid %s request", field[0]);
    } else if (mount) {
        code = live_mount(sup.pid, field[1], field[2], !strcmp(field[3], "ro"), err, sizeof err);
    } else {
        code = live_unmount(sup.pid, field[1], err, sizeof err);
    }
    if (code)
        message_sendf(cl->sock, "error %d %s", code, err);
    else
        message_sendf(cl->sock, "ok");
}

static void first_message(struct client *cl, char *buf, ssize_t n, int *fds, int nfds, struct winsize *size) {
    int in, out, err, once, rows, cols, sig;
    if (sscanf(buf, "signal %d", &sig) == 1) {
        /* `berth kill`: a signal for the container, not a request to stop it */
        if (sig > 0 && sig < 65 && sup.pid && !sup.exited) kill(sup.pid, sig);
        close_fds(fds, nfds);
        drop(cl);
        return;
    }
    if ((n > 6 && !memcmp(buf, "mount", 6)) || (n > 7 && !memcmp(buf, "umount", 7))) {
        live_request(cl, buf, (size_t)n);
        close_fds(fds, nfds);
        drop(cl);
        return;
    }
    if (n > 5 && !memcmp(buf, "exec", 5)) {
        start_exec(cl, buf + 5, (size_t)n - 5, fds, nfds);
        return;
    }
    if (sscanf(buf, "attach %d %d %d %d %d %d", &in, &out, &err, &once, &rows, &cols) != 6 ||
        in + out + err != nfds) {
        message_sendf(cl->sock, "error 125 invalid attach request");
        close_fds(fds, nfds);
        drop(cl);
        return;
    }
    int next = 0;
    cl->in = in ? fds[next++] : -1;
    cl->out = out ? fds[next++] : -1;
    cl->err = err ? fds[next++] : -1;
    /* Without an open stdin (-i), the client's input goes nowhere. */
    if (!sup.config->open_stdin) close_fd(&cl->in);
    cl->once = once;
    cl->kind = ATTACH;
    if (rows > 0 && cols > 0) {
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        if (size) *size = ws;
        if (sup.master >= 0) ioctl(sup.master, TIOCSWINSZ, &ws);
    }
}

void session_first(int sock, struct winsize *size) {
    char buf[MESSAGE_MAX];
    int fds[MESSAGE_FDS], nfds;
    session_add(sock);
    struct client *cl = NULL;
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].kind == NEW && clients[i].sock == sock) cl = &clients[i];
    if (!cl) return;
    ssize_t n = message_recv(sock, buf, sizeof buf, fds, &nfds);
    if (n <= 0) {
        drop(cl);
        return;
    }
    first_message(cl, buf, n, fds, nfds, size);
    if (cl->kind != FREE) fcntl(sock, F_SETFL, O_NONBLOCK);
}

static void on_message(struct client *cl) {
    char buf[MESSAGE_MAX];
    int fds[MESSAGE_FDS], nfds;
    ssize_t n = message_recv(cl->sock, buf, sizeof buf, fds, &nfds);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
        /* Gone (killed, or done): the container, and an exec's process, go on without it. */
        drop(cl);
        return;
    }
    if (cl->kind == NEW) {
        first_message(cl, buf, n, fds, nfds, NULL);
        return;
    }
    close_fds(fds, nfds);
    int rows, cols, sig;
    if (sscanf(buf, "winch %d %d", &rows, &cols) == 2 && sup.master >= 0 && cl->kind == ATTACH) {
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        ioctl(sup.master, TIOCSWINSZ, &ws);
    } else if (sscanf(buf, "signal %d", &sig) == 1 && sig > 0 && sig < 65 && sup.pid && !sup.exited) {
        kill(cl->kind == EXEC ? cl->exec_pid : sup.pid, sig);
    }
}

/* Reads a client's input into `pending`; on a terminal, ctrl-p ctrl-q detaches the client (as
 * Docker's default detach keys) and is not passed on. */
static void on_input(struct client *cl) {
    char buf[sizeof pending];
    ssize_t n = read(cl->in, buf, sizeof buf - 1);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
        close_fd(&cl->in);
        if (cl->once) close_container_stdin();
        return;
    }
    pending_off = pending_len = 0;
    for (ssize_t i = 0; i < n; i++) {
        char ch = buf[i];
        if (sup.master >= 0) {
            if (cl->saw_ctrl_p) {
                cl->saw_ctrl_p = false;
                if (ch == 0x11) {
                    message_sendf(cl->sock, "detached");
                    drop(cl);
                    break;
                }
                pending[pending_len++] = 0x10;
            } else if (ch == 0x10) {
                cl->saw_ctrl_p = true;
                continue;
            }
        }
        pending[pending_len++] = ch;
    }
}

static void flush_pending(void) {
    while (pending_off < pending_len && sup.stdin_fd >= 0) {
        ssize_t w = write(sup.stdin_fd, pending + pending_off, pending_len - pending_off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return;
        if (w <= 0) {
            /* the container closed its stdin: nothing more will be read */
            pending_off = pending_len = 0;
            close_fd(&sup.stdin_fd);
            return;
        }
        pending_off += (size_t)w;
    }
    pending_off = pending_len = 0;
    if (close_stdin_after_pending) {
        close_stdin_after_pending = false;
        close_container_stdin();
    }
}

/* What each pollfd of the last session_poll_fds was for. */
static struct {
    int client; /* index, or -1 for the container's stdin */
    bool input;
} polled[2 * MAX_CLIENTS + 1];

int session_poll_fds(struct pollfd *p, int room) {
    int n = 0;
    bool has_pending = pending_len > pending_off;
    if (has_pending && sup.stdin_fd >= 0 && n < room) {
        polled[n].client = -1;
        p[n++] = (struct pollfd){sup.stdin_fd, POLLOUT, 0};
    }
    for (int i = 0; i < MAX_CLIENTS && n + 2 <= room; i++) {
        struct client *cl = &clients[i];
        if (cl->kind == FREE) continue;
        polled[n].client = i;
        polled[n].input = false;
        p[n++] = (struct pollfd){cl->sock, POLLIN, 0};
        if (cl->kind == ATTACH && cl->in >= 0 && sup.stdin_fd >= 0 && !has_pending) {
            polled[n].client = i;
            polled[n].input = true;
            p[n++] = (struct pollfd){cl->in, POLLIN, 0};
        }
    }
    return n;
}

void session_events(const struct pollfd *p, int n) {
    for (int i = 0; i < n; i++) {
        if (!p[i].revents) continue;
        if (polled[i].client < 0) {
            flush_pending();
            continue;
        }
        struct client *cl = &clients[polled[i].client];
        if (cl->kind == FREE) continue; /* dropped earlier in this round */
        if (polled[i].input) {
            if (cl->in == p[i].fd) {
                on_input(cl);
                flush_pending();
            }
        } else if (cl->sock == p[i].fd) {
            on_message(cl);
        }
    }
}

void log_tee(int index, const char *data, size_t len) {
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *cl = &clients[i];
        if (cl->kind != ATTACH) continue;
        int *fd = index == 0 ? &cl->out : &cl->err;
        const char *p = data;
        size_t left = len;
        while (*fd >= 0 && left > 0) {
            ssize_t w = write(*fd, p, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                close_fd(fd); /* the client's output is gone; the journal still has it all */
                break;
            }
            p += w;
            left -= (size_t)w;
        }
    }
}

static int exit_code_of(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void session_reaped(pid_t pid, int status) {
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].kind == EXEC && clients[i].exec_pid == pid) {
            message_sendf(clients[i].sock, "exit %d", exit_code_of(status));
            drop(&clients[i]);
        }
    }
}

void session_finish(int exit_code) {
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *cl = &clients[i];
        if (cl->kind == EXEC) {
            /* The kernel kills what is left in the PID namespace with its PID 1. */
            int status;
            pid_t r;
            do r = waitpid(cl->exec_pid, &status, 0);
            while (r < 0 && errno == EINTR);
            message_sendf(cl->sock, "exit %d", r == cl->exec_pid ? exit_code_of(status) : 137);
        } else if (cl->kind != FREE) {
            message_sendf(cl->sock, "exit %d", exit_code);
        }
        if (cl->kind != FREE) drop(cl);
    }
}
