/* berth-supervisor: one per container, in the container's scope. It starts the container
 * (clone into new namespaces, then setup.c), owns its output (pipes, or a terminal) and sends
 * every line to journald, relays it to attached clients (session.c), runs `berth exec`
 * processes, forwards signals, reaps the container's PID 1 and records how it ended, then
 * exits. It is single-threaded C so that clone is safe and its memory stays small.
 *
 *   berth-supervisor CONFIG
 *   fd 3: berth writes one byte once the supervisor and the container are in their scope
 *         (EOF: give up)
 *   fd 4: the supervisor reports "child N\n" once the container's process exists (berth puts
 *         it in the scope with the supervisor), then "pid N\n" once it runs its command, or
 *         "error CODE MESSAGE\n" at any point; then closes it
 *   fd 5 (optional): a client connection (message.h) whose attach request is already queued
 * It listens on attach.sock beside the state file for `berth attach` and `berth exec`.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oom.h"
#include "config.h"
#include "journal.h"
#include "message.h"
#include "session.h"
#include "setup.h"

enum { FD_GO = 3, FD_REPORT = 4, FD_CLIENT = 5 };

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct state {
    const char *status;
    pid_t pid;
    long long started, finished;
    int exit_code, signal, stop_signal;
    const char *error;
};

/* The state file is replaced whole (temp file, fsync, rename): a reader, or the next berth
 * after a crash, sees the old record or the new one, never half of one. */
static void write_state(const struct config *c, const struct state *s) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", c->state_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    dprintf(fd, "status=%s\nsupervisorPid=%d\npid=%d\nstartedAt=%lld\nfinishedAt=%lld\nexitCode=%d\nsignal=%d\nstopSignal=%d\n",
            s->status, getpid(), s->pid, s->started, s->finished, s->exit_code, s->signal, s->stop_signal);
    if (s->error) {
        dprintf(fd, "error=");
        for (const char *p = s->error; *p; p++) dprintf(fd, "%c", *p == '\n' ? ' ' : *p);
        dprintf(fd, "\n");
    }
    fsync(fd);
    close(fd);
    rename(tmp, c->state_path);
}

/* A line to berth on fd 4; the last one ("pid" or "error") closes it. */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
    if (fcntl(FD_REPORT, F_GETFD) < 0) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (write(FD_REPORT, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1)) < 0) { /* berth went away */ }
    if (strncmp(buf, "child ", 6) != 0) close(FD_REPORT);
}

/* attach.sock in the container's directory, for `berth attach` and `berth exec`; bound
 * through /proc/self/fd so a long root never overflows sun_path. Only root may connect. */
static int listen_attach(const char *dir) {
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return -1;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/attach.sock", dirfd);
    unlink(addr.sun_path); /* left by an earlier run */
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    mode_t old = umask(077);
    int r = sock < 0 ? -1 : bind(sock, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    close(dirfd);
    if (r < 0 || listen(sock, 16) < 0) {
        if (sock >= 0) close(sock);
        return -1;
    }
    return sock;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (type == FTW_DP) rmdir(path);
    else unlink(path);
    return 0;
}

/* --rm: the container's directory and its name go once it has ended (as Docker's AutoRemove),
 * whether or not a client is still there to do it. */
static void auto_remove(const struct config *c, const char *dir) {
    if (c->name_link) {
        char target[256], expected[256];
        ssize_t n = readlink(c->name_link, target, sizeof target - 1);
        snprintf(expected, sizeof expected, "../%s", c->id);
        if (n > 0) {
            target[n] = 0;
            if (!strcmp(target, expected)) unlink(c->name_link);
        }
    }
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: berth-supervisor CONFIG (run by berth, not by hand)\n");
        return 2;
    }
    /* Whatever the caller left open without close-on-exec must not reach the container. */
    syscall(SYS_close_range, FD_CLIENT + 1, ~0U, 0);
    int type = 0;
    socklen_t type_len = sizeof type;
    bool has_client = getsockopt(FD_CLIENT, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_SEQPACKET;
    if (has_client) fcntl(FD_CLIENT, F_SETFD, FD_CLOEXEC);
    fcntl(FD_REPORT, F_SETFD, FD_CLOEXEC); /* never the container's */
    static struct config c;
    if (config_load(argv[1], &c) < 0) {
        report("error 125 invalid supervisor configuration\n");
        return 125;
    }
    sup.config = &c;
    oom_protect_supervisor();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", c.state_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;

    /* One supervisor per container: the lock lives as long as this process. */
    char lockpath[4200];
    snprintf(lockpath, sizeof lockpath, "%s.lock", c.state_path);
    int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
        report("error 125 another supervisor already runs this container\n");
        return 125;
    }
    if (c.seccomp_path && !(sup.filter = seccomp_read(c.seccomp_path))) {
        report("error 125 cannot read the seccomp filter %s: %s\n", c.seccomp_path, strerror(errno));
        return 125;
    }

    /* Every signal worth forwarding, and SIGCHLD, arrive through a signalfd. */
    sigset_t mask;
    sigfillset(&mask);
    sigdelset(&mask, SIGSEGV);
    sigdelset(&mask, SIGBUS);
    sigdelset(&mask, SIGFPE);
    sigdelset(&mask, SIGILL);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);
    /* Out of the client's session, so its terminal's hangup or ^C never reaches us. */
    setsid();

    struct log_fields fields = {c.name, c.id, c.image};
    journal_init(&fields);
    int listener = listen_attach(dir);
    if (listener < 0) {
        report("error 125 cannot listen on %s/attach.sock: %s\n", dir, strerror(errno));
        return 125;
    }
    struct winsize size = {0};
    if (has_client) session_first(FD_CLIENT, &size);

    int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, fail[2], console[2] = {-1, -1}, proceed[2];
    if (pipe2(fail, O_CLOEXEC) < 0 || pipe2(proceed, O_CLOEXEC) < 0 || (!c.tty && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)) ||
        (!c.tty && c.open_stdin && pipe2(in, O_CLOEXEC) < 0) ||
        (c.tty && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, console) < 0)) {
        report("error 125 pipe: %s\n", strerror(errno));
        return 125;
    }

    /* The container is cloned, and sets up its root, while berth creates the scope: it waits
     * for "proceed" before anything that must happen inside the scope. Its cgroup namespace
     * comes then too (unshare), so that its root is the scope's cgroup. */
    unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
    if (!c.host_network) flags |= CLONE_NEWNET;
    long long started = now_ns();
    /* A fork-like raw clone (no new stack): safe here because this process has one thread. */
    pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        report("error 125 cannot create the container's namespaces: %s\n", strerror(errno));
        return 125;
    }
    if (pid == 0) {
        if (!c.tty) {
            int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
            dup2(c.open_stdin ? in[0] : devnull, 0);
            dup2(out[1], 1);
            dup2(err[1], 2);
        }
        /* Only stdio and these two (close-on-exec) go on: the init of --init never execs, so
         * close-on-exec alone would leave it the lock, the socket and every pipe of ours. */
        int error_fd = fcntl(fail[1], F_DUPFD_CLOEXEC, 100), proceed_fd = fcntl(proceed[0], F_DUPFD_CLOEXEC, 100);
        int console_fd = c.tty ? fcntl(console[1], F_DUPFD_CLOEXEC, 100) : -1;
        if (error_fd < 0 || dup3(error_fd, 3, O_CLOEXEC) < 0) _exit(125);
        if (proceed_fd < 0 || dup3(proceed_fd, 4, O_CLOEXEC) < 0) _exit(125);
        if (c.tty && (console_fd < 0 || dup3(console_fd, 5, O_CLOEXEC) < 0)) _exit(125);
        syscall(SYS_close_range, c.tty ? 6 : 5, ~0U, 0);
        container_main(&c, 3, 4, sup.filter, c.tty ? 5 : -1, &size);
    }
    close(proceed[0]);
    report("child %d\n", pid);
    char go;
    ssize_t r;
    do r = read(FD_GO, &go, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1) { /* berth could not put us in the scope */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 125;
    }
    close(FD_GO);
    if (write(proceed[1], "p", 1) != 1) { /* it died in its setup: the fail pipe says why */ }
    close(proceed[1]);
    close(fail[1]);
    if (c.tty) {
        close(console[1]);
    } else {
        close(out[1]);
        close(err[1]);
        if (c.open_stdin) close(in[0]);
    }

    struct state st = {.status = "running", .pid = pid, .started = started};
    struct setup_error failure;
    if (setup_failed(fail[0], pid, &failure)) {
        st.status = "exited";
        st.finished = now_ns();
        st.exit_code = failure.exit_code;
        st.error = failure.message;
        write_state(&c, &st);
        journal_note(3, failure.message);
        report("error %d %s\n", failure.exit_code, failure.message);
        /* Removed first, so a client that waits (run --rm) finds it gone, as with Docker. */
        if (c.auto_remove) auto_remove(&c, dir);
        session_finish(failure.exit_code);
        return 0;
    }
    sup.pid = pid;
    struct log_stream streams[2] = {
        {.fd = out[0], .priority = 6, .index = 0},
        {.fd = err[0], .priority = 3, .index = 1},
    };
    if (c.tty) {
        int fds[MESSAGE_FDS], nfds = 0;
        char buf[16];
        if (message_recv(console[0], buf, sizeof buf, fds, &nfds) <= 0 || nfds != 1) {
            kill(pid, SIGKILL);
            report("error 125 the container's terminal was not passed\n");
            return 125;
        }
        close(console[0]);
        sup.master = streams[0].fd = fds[0];
        streams[0].tty = true;
        if (c.open_stdin) sup.stdin_fd = dup(sup.master);
        fcntl(sup.master, F_SETFL, O_NONBLOCK);
    } else if (c.open_stdin) {
        sup.stdin_fd = in[1];
        fcntl(sup.stdin_fd, F_SETFL, O_NONBLOCK);
    }
    write_state(&c, &st);
    report("pid %d\n", pid);

    long long drain_deadline = 0, kill_deadline = 0;
    for (;;) {
        struct pollfd p[2 * 32 + 8] = {
            {sfd, POLLIN, 0}, {streams[0].fd, POLLIN, 0}, {streams[1].fd, POLLIN, 0}, {listener, POLLIN, 0}};
        if (sup.exited && streams[0].fd < 0 && streams[1].fd < 0) break;
        int n = 4 + session_poll_fds(p + 4, (int)(sizeof p / sizeof p[0]) - 4);
        int timeout = -1;
        if (!sup.exited && kill_deadline) {
            /* Asked to stop and still running after stopTimeout: SIGKILL it ourselves, before
             * systemd's later SIGKILL (stopTimeout plus a margin) would take us down with it
             * and leave the exit unrecorded. */
            long long left = (kill_deadline - now_ns()) / 1000000;
            if (left <= 0) {
                kill(pid, SIGKILL);
                kill_deadline = 0;
            } else {
                timeout = (int)left;
            }
        }
        if (sup.exited) {
            /* The container's PID 1 is gone, which kills its namespace; its pipes close at
             * once unless something outside holds them. Wait a little, no longer. */
            long long left = (drain_deadline - now_ns()) / 1000000;
            if (left <= 0) break;
            timeout = (int)left;
        }
        if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR) break;
        if (p[1].revents) log_stream_read(&streams[0]);
        if (p[2].revents) log_stream_read(&streams[1]);
        if (p[3].revents) {
            int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (client >= 0) session_add(client);
        }
        session_events(p + 4, n - 4);
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGCHLD) {
                    int status;
                    pid_t reaped;
                    while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
                        if (reaped != pid) {
                            session_reaped(reaped, status);
                            continue;
                        }
                        sup.exited = true;
                        st.finished = now_ns();
                        st.status = "exited";
                        if (WIFEXITED(status)) {
                            st.exit_code = WEXITSTATUS(status);
                        } else {
                            st.signal = WTERMSIG(status);
                            st.exit_code = 128 + st.signal;
                        }
                        drain_deadline = st.finished + 2000000000LL;
                    }
                    continue;
                }
                /* systemd's stop signals the whole scope, the container's PID 1 included:
                 * forward only signals that came from elsewhere, so a program that counts
                 * them (a second ^C) is not hit twice. */
                if (si.ssi_signo == (unsigned)c.stop_signal || si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT ||
                    si.ssi_signo == SIGKILL) {
                    st.stop_signal = (int)si.ssi_signo;
                    if (!kill_deadline) kill_deadline = now_ns() + (long long)c.stop_timeout * 1000000000LL;
                }
                if (!sup.exited && si.ssi_pid != 1) kill(pid, (int)si.ssi_signo);
            }
        }
    }
    close(listener);
    log_stream_flush(&streams[0]);
    log_stream_flush(&streams[1]);
    write_state(&c, &st);
    if (c.auto_remove) auto_remove(&c, dir);
    session_finish(st.exit_code);
    return 0;
}
