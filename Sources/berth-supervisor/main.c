/* berth-supervisor: one per container, in the container's scope. It starts the container
 * (clone into new namespaces, then setup.c), owns its output pipes and sends every line to
 * journald, forwards signals, reaps the container's PID 1 and records how it ended, then
 * exits. It is single-threaded C so that clone is safe and its memory stays small.
 *
 *   berth-supervisor CONFIG
 *   fd 3: berth writes one byte once the supervisor is in its scope (EOF: give up)
 *   fd 4: the supervisor reports "pid N\n" or "error CODE MESSAGE\n", then closes it
 *   fd 5, 6, 7 (optional, when attached): the client's stdin, stdout and stderr
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "journal.h"
#include "setup.h"

enum { FD_GO = 3, FD_REPORT = 4, FD_STDIN = 5, FD_STDOUT = 6, FD_STDERR = 7 };

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

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

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
    if (!fd_open(FD_REPORT)) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (write(FD_REPORT, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1)) < 0) { /* berth went away */ }
    close(FD_REPORT);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: berth-supervisor CONFIG (run by berth, not by hand)\n");
        return 2;
    }
    /* Whatever the caller left open without close-on-exec must not reach the container. */
    syscall(SYS_close_range, FD_STDERR + 1, ~0U, 0);
    /* Which client fds were passed must be known before this process opens anything, and the
     * numbers 5 to 7 stay taken (by /dev/null when not passed) so nothing of ours lands there. */
    bool attached[3];
    for (int fd = FD_STDIN; fd <= FD_STDERR; fd++) {
        attached[fd - FD_STDIN] = fd_open(fd);
        if (!attached[fd - FD_STDIN]) {
            int null = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (null != fd) {
                dup3(null, fd, O_CLOEXEC);
                close(null);
            }
        }
    }
    struct config c;
    if (config_load(argv[1], &c) < 0) {
        report("error 125 invalid supervisor configuration\n");
        return 125;
    }
    /* One supervisor per container: the lock lives as long as this process. */
    char lockpath[4200];
    snprintf(lockpath, sizeof lockpath, "%s.lock", c.state_path);
    int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
        report("error 125 another supervisor already runs this container\n");
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

    char go;
    ssize_t r;
    do r = read(FD_GO, &go, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1) return 125; /* berth could not put us in the scope */
    close(FD_GO);

    struct log_fields fields = {c.name, c.id, c.image};
    journal_init(&fields);

    int out[2], err[2], in[2] = {-1, -1}, fail[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(fail, O_CLOEXEC) < 0) {
        report("error 125 pipe: %s\n", strerror(errno));
        return 125;
    }
    bool attached_stdin = attached[0];
    if (attached_stdin && pipe2(in, O_CLOEXEC) < 0) {
        report("error 125 pipe: %s\n", strerror(errno));
        return 125;
    }

    unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | SIGCHLD;
    if (!c.host_network) flags |= CLONE_NEWNET;
    long long started = now_ns();
    /* A fork-like raw clone (no new stack): safe here because this process has one thread. */
    pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        report("error 125 cannot create the container's namespaces: %s\n", strerror(errno));
        return 125;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        dup2(attached_stdin ? in[0] : devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(sfd);
        close(lock);
        /* Nothing of berth's may leak into the container: the report pipe and the client fds. */
        for (int fd = FD_REPORT; fd <= FD_STDERR; fd++) close(fd);
        container_main(&c, fail[1]);
    }
    close(out[1]);
    close(err[1]);
    close(fail[1]);
    if (attached_stdin) close(in[0]);

    struct state st = {.status = "running", .pid = pid, .started = started};
    struct setup_error failure;
    ssize_t got;
    do got = read(fail[0], &failure, sizeof failure);
    while (got < 0 && errno == EINTR);
    close(fail[0]);
    if (got == (ssize_t)sizeof failure) {
        /* setup or exec failed: the child has exited with the same code */
        waitpid(pid, NULL, 0);
        failure.message[sizeof failure.message - 1] = 0;
        st.status = "exited";
        st.finished = now_ns();
        st.exit_code = failure.exit_code;
        st.error = failure.message;
        write_state(&c, &st);
        journal_note(3, failure.message);
        report("error %d %s\n", failure.exit_code, failure.message);
        return 0;
    }
    write_state(&c, &st);
    report("pid %d\n", pid);

    struct log_stream streams[2] = {
        {.fd = out[0], .priority = 6, .tee_fd = attached[1] ? FD_STDOUT : -1},
        {.fd = err[0], .priority = 3, .tee_fd = attached[2] ? FD_STDERR : -1},
    };
    int stdin_fd = attached_stdin ? FD_STDIN : -1;
    bool exited = false;
    long long drain_deadline = 0, kill_deadline = 0;
    for (;;) {
        struct pollfd p[4] = {{sfd, POLLIN, 0}, {streams[0].fd, POLLIN, 0}, {streams[1].fd, POLLIN, 0}, {stdin_fd, POLLIN, 0}};
        if (exited && streams[0].fd < 0 && streams[1].fd < 0) break;
        int timeout = -1;
        if (!exited && kill_deadline) {
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
        if (exited) {
            /* The container's PID 1 is gone, which kills its namespace; its pipes close at
             * once unless something outside holds them. Wait a little, no longer. */
            long long left = (drain_deadline - now_ns()) / 1000000;
            if (left <= 0) break;
            timeout = (int)left;
        }
        if (poll(p, 4, timeout) < 0 && errno != EINTR) break;
        if (p[1].revents) log_stream_read(&streams[0]);
        if (p[2].revents) log_stream_read(&streams[1]);
        if (p[3].revents) {
            char buf[4096];
            ssize_t n = read(stdin_fd, buf, sizeof buf);
            if (n <= 0 || write(in[1], buf, (size_t)n) != n) {
                close(in[1]);
                stdin_fd = -1;
            }
        }
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGCHLD) {
                    int status;
                    if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
                        exited = true;
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
                if (!exited && si.ssi_pid != 1) kill(pid, (int)si.ssi_signo);
            }
        }
    }
    log_stream_flush(&streams[0]);
    log_stream_flush(&streams[1]);
    write_state(&c, &st);
    return 0;
}
